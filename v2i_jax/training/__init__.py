"""What both trainings (keyword classifier and GAN) share: mesh, checkpoints, schedules, loop."""
