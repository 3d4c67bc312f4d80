"""SentencePiece tokenizer with BERT-style framing, mirrored by engine/tokenizer.cc.

Ids 0..3 are reserved: pad, unk, [CLS] (SentencePiece's bos) and [SEP] (eos).
A single text becomes [CLS] a [SEP]; a pair [CLS] a [SEP] b [SEP] with type
ids 0 for the first segment and 1 for the second. Over-long inputs lose tokens
from the end of the longer text first (BERT's longest-first truncation).
"""
from __future__ import annotations

import io
import os
import tempfile
from typing import Iterable, Optional

import sentencepiece as spm

PAD_ID, UNK_ID, CLS_ID, SEP_ID = 0, 1, 2, 3


def lowercase_rules() -> str:
    """Case folding of ASCII and Latin-1 letters as SentencePiece normalization
    rules (source and target code points, hex). Its compiled map is about 1 KB,
    where nmt_nfkc_cf's full NFKC table costs about 240 KB in every bundle."""
    upper = list(range(0x41, 0x5B)) + [c for c in range(0xC0, 0xDF) if c != 0xD7]
    return "".join(f"{c:X}\t{c + 32:X}\n" for c in upper)


def train_sentencepiece(texts: Iterable[str], vocab_size: int, seed_sentences: int = 200000) -> bytes:
    """Trains a unigram model on the texts and returns its serialized proto."""
    model = io.BytesIO()
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as rules:
        rules.write(lowercase_rules())
    try:
        _train(texts, vocab_size, seed_sentences, model, rules.name)
    finally:
        os.unlink(rules.name)
    # The trainer records the rules file's (random) path; drop it so the same
    # data always gives the same bytes, and no local path ships in a bundle.
    from sentencepiece import sentencepiece_model_pb2
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    proto.normalizer_spec.ClearField("normalization_rule_tsv")
    proto.denormalizer_spec.ClearField("normalization_rule_tsv")
    return proto.SerializeToString()


def _train(texts, vocab_size, seed_sentences, model, rules_path):
    spm.set_random_generator_seed(1)  # sentence sampling: same data, same tokenizer
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        normalization_rule_tsv=rules_path,  # lower case; see lowercase_rules
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=CLS_ID, eos_id=SEP_ID,
        hard_vocab_limit=False,
        input_sentence_size=seed_sentences,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
    )


def truncate_pair(a: list[int], b: Optional[list[int]], budget: int) -> None:
    """Drops tokens from the end of the longer list until both fit the budget."""
    if b is None:
        del a[budget:]
        return
    while len(a) + len(b) > budget:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()


class Tokenizer:
    def __init__(self, model_proto: bytes, max_len: int):
        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.max_len = max_len

    @classmethod
    def from_bundle(cls, header: dict, tensors: dict) -> "Tokenizer":
        """The tokenizer stored in a bundle (bundle.read_bundle's header and tensors)."""
        return cls(bytes(tensors[header["tokenizer"]["tensor"]]), header["architecture"]["max_len"])

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text_a: str, text_b: Optional[str] = None) -> tuple[list[int], list[int]]:
        a = self.sp.encode(text_a)
        b = self.sp.encode(text_b) if text_b is not None else None
        truncate_pair(a, b, self.max_len - (2 if b is None else 3))
        ids = [CLS_ID] + a + [SEP_ID]
        types = [0] * len(ids)
        if b is not None:
            ids += b + [SEP_ID]
            types += [1] * (len(b) + 1)
        return ids, types
