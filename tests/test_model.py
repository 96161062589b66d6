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
