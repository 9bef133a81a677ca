"""MNIST / MLP, small: a quick look on a laptop (3 epochs of a narrower MLP)."""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'MLP'
  config.dataset = 'mnist'
  config.lr_scheduler = 'step_mnist'
  config.learning_rate = 0.1
  config.momentum = 0.9
  config.batch_size = 128
  config.weight_decay = 0.0001
  config.num_epochs = 3
  config.log_every_steps = 100
  config.optimizer = 'sam'
  config.rho = 0.05
  config.seed = 1
  config.pruner = 'random'
  config.sparsity = 0.0
  config.num_neurons = [100, 30]
  config.restore_checkpoint = False
  return config
