"""CIFAR-10 / ResNet18: the original's settings."""

import ml_collections


def get_config():
  """Get the default hyperparameter configuration."""
  config = ml_collections.ConfigDict()

  config.model = 'ResNet18'
  config.dataset = 'cifar10'

  config.lr_scheduler = 'step'
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.batch_size = 128
  config.weight_decay = 0.0005

  config.num_epochs = 200
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
