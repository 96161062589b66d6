"""Learn: the network, training it (a self-supervised round 0 too), checkpoints, and scoring images with it."""
