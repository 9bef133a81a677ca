"""ImageNet / ResNet50: the original's settings."""

import ml_collections


def get_config():
  """Get the default hyperparameter configuration."""
  config = ml_collections.ConfigDict()

  config.model = 'ResNet50_ImageNet'
  config.dataset = 'imagenet2012'

  config.lr_scheduler = 'step_mnist'
  config.learning_rate = 0.2
  config.warmup_steps = 5000
  config.momentum = 0.9
  config.batch_size = 512
  config.weight_decay = 0.0001

  config.num_epochs = 90
  config.log_every_steps = 100

  config.cache = False
  config.half_precision = False

  config.optimizer = 'sam'
  config.rho = 0.05

  config.seed = 1

  config.pruner = 'random'
  config.sparsity = 0.0

  config.num_filters = 64

  config.restore_checkpoint = False

  config.num_train_steps = -1
  config.steps_per_eval = -1
  return config
