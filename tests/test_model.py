import torch

from ahunt.learn.model import HuntNet, ModelArgs, conv_depth


def test_depth_follows_image_size():
    assert conv_depth(28) == 4 and conv_depth(32) == 4
    assert conv_depth(64) == 5
    assert conv_depth(128) == 6


def test_forward_returns_logits_and_64d_latent():
    model = HuntNet(ModelArgs(n_classes=4, image_size=64, channels=1))
    logits, latent = model(torch.zeros(3, 1, 64, 64))
    assert logits.shape == (3, 4) and latent.shape == (3, 64)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and all(c.kernel_size == (3, 3) for c in convs)


def test_three_channel_input():
    model = HuntNet(ModelArgs(n_classes=3, image_size=32, channels=3))
    logits, _ = model(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 3)


def test_grow_head_keeps_every_old_weight():
    torch.manual_seed(0)
    model = HuntNet(ModelArgs(n_classes=4, image_size=32)).eval()
    x = torch.randn(5, 1, 32, 32)
    before_logits, before_latent = model(x)
    old_w, old_b = model.head.weight.detach().clone(), model.head.bias.detach().clone()
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head")}

    model.grow_head(1)
    assert model.n_classes == 5 and model.args.n_classes == 5
    assert torch.equal(model.head.weight[:4], old_w) and torch.equal(model.head.bias[:4], old_b)
    for k, v in model.state_dict().items():
        if not k.startswith("head"):
            assert torch.equal(v, body[k])
    after_logits, after_latent = model(x)
    assert torch.equal(after_latent, before_latent)
    assert torch.allclose(after_logits[:, :4], before_logits)
    model.grow_head(2)
    assert model(x)[0].shape == (5, 7)


def test_isomax_head_distances_and_growth():
    from ahunt.learn.model import IsoMaxHead

    torch.manual_seed(0)
    model = HuntNet(ModelArgs(n_classes=3, image_size=32, head="isomax")).eval()
    with torch.no_grad():
        model.head.prototypes.copy_(torch.randn(3, 64))
    x = torch.randn(4, 1, 32, 32)
    logits, z = model(x)
    expected = -10.0 * torch.cdist(z, model.head.prototypes)
    assert torch.allclose(logits, expected)
    old = model.head.prototypes.detach().clone()
    model.grow_head(1)
    assert isinstance(model.head, IsoMaxHead) and model.n_classes == 4
    assert torch.equal(model.head.prototypes[:3], old)
    assert torch.allclose(model(x)[0][:, :3], logits)


def test_a_crop_makes_the_network_look_at_the_centre_of_each_cutout_only():
    """``crop``: the convolutions see the central crop x crop pixels, training and scoring alike
    (the inference copy too, in every orientation), and the depth follows that field."""
    from ahunt.learn.model import centre_crop, inference_copy

    torch.manual_seed(0)
    x = torch.randn(4, 1, 64, 64)
    outside = x.clone()
    outside[..., :16, :] = 5.0  # the rows above the central 32 x 32 ...
    outside[..., :, 48:] = -5.0  # ... and the columns right of it
    inside = x.clone()
    inside[..., 30, 30] += 5.0
    for views in (1, 4):
        model = HuntNet(ModelArgs(n_classes=3, image_size=64, crop=32, views=views)).eval()
        assert sum(isinstance(m, torch.nn.Conv2d) for m in model.features) == conv_depth(32)
        for net in (model, inference_copy(model)):
            logits, latent = net(x)
            assert torch.allclose(net(outside)[0], logits, atol=1e-5)
            assert torch.allclose(net(centre_crop(x, 32))[1], latent, atol=1e-5)
            assert not torch.allclose(net(inside)[1], latent, atol=1e-3)
    assert HuntNet(ModelArgs(n_classes=3, image_size=64)).args.input_size == 64  # 0: the whole cutout


def test_centre_crop_of_arrays_and_tensors():
    import numpy as np

    from ahunt.learn.model import centre_crop

    a = np.arange(2 * 6 * 6).reshape(2, 1, 6, 6)
    assert np.array_equal(centre_crop(a, 2), a[..., 2:4, 2:4])
    assert centre_crop(a, 0) is a and centre_crop(a, 8) is a
    assert centre_crop(torch.zeros(3, 1, 7, 7), 4).shape == (3, 1, 4, 4)
