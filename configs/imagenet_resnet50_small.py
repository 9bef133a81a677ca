"""ImageNet / ResNet50, small: width 8, batch 64, 1 epoch (needs data/imagenet2012 arrays)."""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.model = 'ResNet50_ImageNet'
  config.dataset = 'imagenet2012'
  config.lr_scheduler = 'imagenet_cosine'
  config.learning_rate = 0.2
  config.warmup_steps = 100
  config.momentum = 0.9
  config.batch_size = 64
  config.weight_decay = 0.0001
  config.num_epochs = 1
  config.log_every_steps = 20
  config.optimizer = 'sam'
  config.rho = 0.05
  config.seed = 1
  config.pruner = 'random'
  config.sparsity = 0.0
  config.num_filters = 8
  config.restore_checkpoint = False
  return config
