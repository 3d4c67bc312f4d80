"""train/beex_train/quant.py: the activation quantizers that the engine mirrors
(CONTRACT.md, activation_bits). Run: python3 -m unittest discover tests/python"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.environ.get("BEEX_SOURCE_DIR", "."), "train"))
from beex_train import quant  # noqa: E402
from beex_train.model import BinaryLinear  # noqa: E402


class Int8Test(unittest.TestCase):
    def test_rounds_half_to_even_per_token_and_zero_rows_stay_zero(self):
        x = torch.tensor([[0.5, 1.5, 2.5, -0.5, -2.5, 126.5, -127.0, 3.49],
                          [0.0] * 8])
        q = quant.quantize_int8(x)
        self.assertEqual(q[0].tolist(), [0, 2, 2, 0, -2, 126, -127, 3])
        self.assertEqual(q[1].tolist(), [0.0] * 8)

    def test_straight_through_gradient(self):
        x = torch.randn(3, 10, requires_grad=True)
        quant.quantize_int8(x).sum().backward()
        self.assertTrue(torch.equal(x.grad, torch.ones_like(x)))


class XnorTest(unittest.TestCase):
    def test_sign_times_mean_abs_with_zero_positive(self):
        x = torch.tensor([[-1.0, 0.0, -0.0, 2.0, -3.0, 0.5, -0.25, 1.0, 4.0, -2.0]])
        y = quant.quantize_xnor(x)
        beta = 13.75 / 10
        want = [-beta, beta, beta, beta, -beta, beta, -beta, beta, beta, -beta]
        self.assertTrue(torch.allclose(y[0], torch.tensor(want)))

    def test_clipped_straight_through_gradient(self):
        x = torch.tensor([[-2.0, -0.5, 0.5, 3.0]], requires_grad=True)
        quant.quantize_xnor(x).sum().backward()
        # d/dx of beta * sign(x): beta (= 1.5) where |x| <= 1, else 0, plus
        # beta's own gradient sum(sign) / k * sign(x) = 0 here (two +1, two -1).
        self.assertEqual(x.grad[0].tolist(), [0.0, 1.5, 1.5, 0.0])


class LayerTest(unittest.TestCase):
    def test_binary_linear_uses_the_quantizer_and_dense_ignores_it(self):
        torch.manual_seed(0)
        x = torch.randn(4, 16)
        lin = BinaryLinear(16, 8, binary=True, act_bits=1)
        want = torch.nn.functional.linear(quant.quantize_xnor(x), lin.effective_weight(), lin.bias)
        self.assertTrue(torch.allclose(lin(x), want))
        dense = BinaryLinear(16, 8, binary=False, act_bits=1)
        self.assertEqual(dense.act_bits, 0)

    def test_unknown_bits_are_refused(self):
        with self.assertRaises(ValueError):
            quant.quantize_activations(torch.zeros(1, 4), 4)


if __name__ == "__main__":
    unittest.main()
