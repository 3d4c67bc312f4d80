#include "engine/model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace beex {
namespace {

absl::StatusOr<ExitSettings> DefaultExit(const bundle::ExitDefaults& d,
                                         int layers, bool regression) {
  ExitSettings s;
  if (!d.policy().empty()) {
    auto kind = ParseExitPolicy(d.policy());
    if (!kind.ok()) return kind.status();
    s.policy = *kind;
  }
  s.threshold = d.threshold();
  s.patience = d.patience() == 0 ? 1 : static_cast<int>(d.patience());
  if (auto st = ValidateExitSettings(s, layers, regression); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle's default exit policy: ", st.message()));
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path,
                                                   std::string name) {
  auto bundle = Bundle::Read(path);
  if (!bundle.ok()) return bundle.status();
  return FromBundle(*bundle, std::move(name), path);
}

absl::StatusOr<std::unique_ptr<Model>> Model::FromBundle(
    const Bundle& bundle, std::string name, const std::string& origin) {
  const bundle::BundleHeader& h = bundle.header();
  const auto& a = h.architecture();
  auto context = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(origin, ": ", s.message()));
  };

  ModelSpec spec;
  spec.name = name.empty() ? h.name() : std::move(name);
  if (h.task() == "classification") {
    spec.task = Task::kClassification;
    if (h.labels_size() != static_cast<int>(a.num_outputs())) {
      return context(absl::InvalidArgumentError(absl::StrCat(
          h.labels_size(), " labels for ", a.num_outputs(), " outputs")));
    }
  } else if (h.task() == "regression") {
    spec.task = Task::kRegression;
    if (a.num_outputs() != 1 ||
        !(h.regression_range().max() > h.regression_range().min())) {
      return context(absl::InvalidArgumentError(
          "regression needs one output and a range with max > min"));
    }
  } else {
    return context(absl::InvalidArgumentError(
        absl::StrCat("unknown task '", h.task(), "'")));
  }
  spec.labels.assign(h.labels().begin(), h.labels().end());
  spec.value_min = h.regression_range().min();
  spec.value_max = h.regression_range().max();
  spec.pair_input = h.pair_input();
  spec.num_layers = static_cast<int>(a.layers());
  spec.max_tokens = static_cast<int>(a.max_len());
  spec.hidden = static_cast<int>(a.hidden());
  spec.binarized = a.binary();
  spec.bundle_bytes = bundle.file_bytes();
  spec.format_version = kBundleFormatVersion;
  spec.metadata.insert(h.metadata().begin(), h.metadata().end());
  auto exit = DefaultExit(h.exit_policy(), spec.num_layers,
                          spec.task == Task::kRegression);
  if (!exit.ok()) return context(exit.status());
  spec.default_exit = *exit;

  const auto& t = h.tokenizer();
  if (t.type() != "sentencepiece") {
    return context(absl::InvalidArgumentError(
        absl::StrCat("unknown tokenizer type '", t.type(), "'")));
  }
  auto it = h.tensors().find(t.tensor());
  if (it == h.tensors().end() || it->second.shape_size() != 1) {
    return context(absl::InvalidArgumentError(
        absl::StrCat("tokenizer tensor '", t.tensor(), "' missing")));
  }
  auto proto = bundle.Bytes(t.tensor());
  if (!proto.ok()) return context(proto.status());
  auto tokenizer = Tokenizer::Create(
      *proto, TokenizerConfig{t.pad_id(), t.unk_id(), t.cls_id(), t.sep_id(),
                              spec.max_tokens});
  if (!tokenizer.ok()) return context(tokenizer.status());
  if (tokenizer->vocab_size() != static_cast<int>(a.vocab_size())) {
    return context(absl::InvalidArgumentError(
        absl::StrCat("tokenizer has ", tokenizer->vocab_size(),
                     " pieces, the embeddings ", a.vocab_size())));
  }
  auto encoder = Encoder::Create(bundle);
  if (!encoder.ok()) return context(encoder.status());
  spec.learned_exits = (*encoder)->learned_exits();
  if (auto s = ValidateExitForModel(spec.default_exit, spec); !s.ok()) {
    return context(absl::InvalidArgumentError(
        absl::StrCat("default exit policy: ", s.message())));
  }
  return std::make_unique<Model>(std::move(spec), *std::move(tokenizer),
                                 *std::move(encoder));
}

absl::Status ValidateExitForModel(const ExitSettings& s,
                                  const ModelSpec& spec) {
  if (auto st = ValidateExitSettings(s, spec.num_layers,
                                     spec.task == Task::kRegression);
      !st.ok()) {
    return st;
  }
  if (s.policy == ExitPolicyKind::kLearned && !spec.learned_exits) {
    return absl::InvalidArgumentError(
        absl::StrCat("exit.policy learned needs learning-to-exit heads; model ",
                     spec.name, " has none"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tokens> Model::Tokenize(const TextPair& input) const {
  if (spec_.pair_input && !input.text_pair) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text_pair is required: model ", spec_.name, " takes sentence pairs"));
  }
  if (!spec_.pair_input && input.text_pair) {
    return absl::InvalidArgumentError(
        absl::StrCat("text_pair is not allowed: model ", spec_.name,
                     " takes single sentences"));
  }
  return tokenizer_.Encode(input.text, input.text_pair);
}

std::vector<Prediction> Model::Predict(
    std::span<const PreparedInput> batch) const {
  std::vector<EncoderSample> samples;
  samples.reserve(batch.size());
  for (const auto& in : batch) {
    samples.push_back({in.tokens.ids, in.tokens.type_ids, in.exit});
  }
  const auto results = encoder_->Run(samples);
  std::vector<Prediction> out(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    Prediction& p = out[i];
    p.exit_layer = results[i].exit_layer;
    p.num_tokens = static_cast<int>(batch[i].tokens.ids.size());
    p.compute_us = results[i].compute_us;
    if (spec_.task == Task::kRegression) {
      p.value = encoder_->ToValue(results[i].output[0]);
    } else {
      p.scores.resize(results[i].output.size());
      SoftmaxEntropy(results[i].output, p.scores);
      p.label_index =
          static_cast<int>(std::max_element(p.scores.begin(), p.scores.end()) -
                           p.scores.begin());
    }
  }
  return out;
}

std::vector<std::vector<std::vector<float>>> Model::TraceAllExits(
    std::span<const Tokens> inputs) const {
  std::vector<std::vector<std::vector<float>>> out;
  for (auto& t : TraceExits(inputs)) out.push_back(std::move(t.outputs));
  return out;
}

std::vector<Model::ExitTrace> Model::TraceExits(
    std::span<const Tokens> inputs) const {
  std::vector<EncoderSample> samples;
  for (const auto& t : inputs) samples.push_back({t.ids, t.type_ids, {}});
  auto results = encoder_->Run(samples, /*trace=*/true);
  std::vector<ExitTrace> out;
  for (auto& r : results) {
    out.push_back({std::move(r.trace), std::move(r.lte_trace)});
  }
  return out;
}

}  // namespace beex
