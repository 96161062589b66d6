"""Scoring: the inference copy of the network, and whole rounds streamed from the store."""

import numpy as np
import pytest
import torch

from ahunt.learn.model import HuntNet, ModelArgs, inference_copy
from ahunt.learn.scoring import READ_BLOCK, Scorer, score_store
from ahunt.learn.train import score
from ahunt.store.images import RoundData, Store

CPU = torch.device("cpu")


def _model(n_classes=4, image_size=16, seed=0):
    torch.manual_seed(seed)
    model = HuntNet(ModelArgs(n_classes=n_classes, image_size=image_size))
    # Non-trivial BatchNorm statistics, so folding them into the convolutions is really tested.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.3, 3)
            m.weight.data.uniform_(-1.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def _store(tmp_path, n, size=16, seed=0):
    rng = np.random.default_rng(seed)
    store = Store(tmp_path / "images.h5")
    store.add_round(RoundData(rng.standard_normal((n, 1, size, size)).astype(np.float32),
                              np.array([f"obj{i}" for i in range(n)])))
    return store


@pytest.mark.parametrize("head", ["linear", "isomax"])
def test_inference_copy_computes_the_same_function(head):
    torch.manual_seed(1)
    model = HuntNet(ModelArgs(n_classes=5, image_size=32, head=head))
    model.train()
    model(torch.randn(64, 1, 32, 32))  # move the BatchNorm running statistics off their defaults
    model.eval()
    x = torch.randn(50, 1, 32, 32)
    with torch.no_grad():
        logits, z = model(x)
        fast_logits, fast_z = inference_copy(model)(x)
    torch.testing.assert_close(fast_logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_z, z, rtol=1e-5, atol=1e-5)
    assert model.features[1].__class__.__name__ == "BatchNorm2d"  # the model itself is untouched


@pytest.mark.parametrize("channels, image_size", [(1, 28), (3, 33), (2, 64)])
def test_inference_copy_handles_bands_and_odd_sizes(channels, image_size):
    # The first block becomes a stride-2 convolution over 4x4 patches; with an odd size the
    # last row and column must be dropped as MaxPool2d drops them.
    torch.manual_seed(2)
    model = HuntNet(ModelArgs(n_classes=3, image_size=image_size, channels=channels))
    model.train()
    model(torch.randn(16, channels, image_size, image_size))
    model.eval()
    x = torch.randn(20, channels, image_size, image_size)
    with torch.no_grad():
        logits, z = model(x)
        fast_logits, fast_z = inference_copy(model)(x)
    torch.testing.assert_close(fast_logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_z, z, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [7, 8, 31])
def test_phase_stem_is_conv_pool_relu(size):
    from ahunt.learn.model import _PhaseStem

    torch.manual_seed(3)
    conv = torch.nn.Conv2d(2, 5, 3, padding=1)
    x = torch.randn(4, 2, size, size)
    with torch.no_grad():
        want = torch.relu(torch.nn.functional.max_pool2d(conv(x), 2))
        got = _PhaseStem(conv)(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("workers", [0, 1])
def test_score_store_matches_scoring_in_memory(tmp_path, workers):
    n = 4 * READ_BLOCK + 77  # enough blocks for a DataLoader worker, and a ragged last block
    store = _store(tmp_path, n)
    model = _model()
    want_p, want_z = score(model, store.load_round(0).images, device=CPU)
    got = score_store(store, 0, model, device=CPU, workers=workers)
    assert got.probs.dtype == np.float32 and got.latents.dtype == np.float16
    assert np.array_equal(got.probs, want_p)
    assert np.array_equal(got.latents, want_z.astype(np.float16))
    np.testing.assert_allclose(got.probs.sum(1), 1, rtol=1e-5)


def test_batches_do_not_depend_on_how_the_round_is_cut():
    model = _model()
    x = np.random.default_rng(2).standard_normal((3 * READ_BLOCK, 1, 16, 16)).astype(np.float32)
    scorer = Scorer(model, CPU)
    whole = scorer(x)
    pieces = [scorer(x[s : s + READ_BLOCK]) for s in range(0, len(x), READ_BLOCK)]
    assert np.array_equal(whole[0], np.concatenate([p for p, _ in pieces]))
    assert np.array_equal(whole[1], np.concatenate([z for _, z in pieces]))


@pytest.mark.parametrize("views", [2, 4, 8])
def test_scoring_in_several_orientations_averages_them_and_ignores_turns(views):
    model = _model(image_size=32)
    model.args = ModelArgs(**{**model.args.to_dict(), "views": views})
    x = torch.randn(70, 1, 32, 32)
    turns = {2: [0, 2], 4: [0, 1, 2, 3], 8: [0, 1, 2, 3]}[views]
    shown = [torch.rot90(x, k, dims=(2, 3)) for k in turns]
    shown += [torch.flip(v, dims=(3,)) for v in shown] if views == 8 else []
    with torch.no_grad():
        outs = [model(v) for v in shown]
    want_p = torch.stack([torch.softmax(logits, 1) for logits, _ in outs]).mean(0).numpy()
    want_z = torch.stack([z for _, z in outs]).mean(0).numpy()
    probs, latents = Scorer(model, CPU)(x.numpy())
    np.testing.assert_allclose(probs, want_p, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(latents, want_z, rtol=1e-4, atol=1e-5)
    # an object turned by a half turn (any quarter turn with 4 or 8 views) scores the same
    turned = torch.rot90(x, 2 if views == 2 else 1, dims=(2, 3)).numpy()
    again = Scorer(model, CPU)(turned)
    np.testing.assert_allclose(again[0], probs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(again[1], latents, rtol=1e-4, atol=1e-5)


def test_batch_size_must_divide_the_read_block():
    with pytest.raises(ValueError, match="divide"):
        Scorer(_model(), CPU, batch_size=100)


@pytest.mark.slow
def test_compiled_scorer_agrees_and_pads_the_last_batch():
    model = _model()
    x = np.random.default_rng(3).standard_normal((150, 1, 16, 16)).astype(np.float32)  # 2 batches + 22
    plain = Scorer(model, CPU)(x)
    compiled = Scorer(model, CPU, compile=True)(x)
    np.testing.assert_allclose(compiled[0], plain[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled[1], plain[1], rtol=1e-4, atol=1e-4)


def test_a_scorer_whose_compile_fails_warns_once_and_scores_without_it(no_cpp_compiler):
    from ahunt.errors import AhuntWarning

    model = _model()
    x = np.random.default_rng(4).standard_normal((150, 1, 16, 16)).astype(np.float32)
    scorer = Scorer(model, CPU, compile=True)
    with pytest.warns(AhuntWarning, match='No working C\\+\\+ compiler found\\); scoring without it.*compile = "never"') as caught:
        probs, latents = scorer(x)
    assert len(caught) == 1
    want_p, want_z = Scorer(model, CPU)(x)
    assert np.array_equal(probs, want_p) and np.array_equal(latents, want_z)


def test_the_store_can_take_a_new_round_right_after_scoring(tmp_path):
    store = _store(tmp_path, 300)
    score_store(store, 0, _model(), device=CPU)
    rng = np.random.default_rng(9)
    store.add_round(RoundData(rng.standard_normal((3, 1, 16, 16)).astype(np.float32),
                              np.array(["late-1", "late-2", "late-3"])))
    assert store.n_rounds() == 2
