"""CIFAR-10 / ResNet18, small: width 8, 2 epochs (needs data/cifar10)."""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'ResNet18'
  config.dataset = 'cifar10'
  config.lr_scheduler = 'step'
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.batch_size = 128
  config.weight_decay = 0.0005
  config.num_epochs = 2
  config.log_every_steps = 50
  config.optimizer = 'sam'
  config.rho = 0.05
  config.seed = 1
  config.pruner = 'random'
  config.sparsity = 0.0
  config.num_filters = 8
  config.restore_checkpoint = False
  return config
