// RefSAM: the paper's models, SAM and SGD, pruning, schedules, data and training,
// built on RefTensor. `import RefSAM` brings every layer (and RefTensor) into scope;
// each layer is also a module of its own, importing only the layers below it:
//
//   RefSAMConfig      configuration files, overrides and the typed choices
//   RefSAMParams      TensorTree: parameters and statistics by Flax path
//   RefSAMData        dataset readers, gzip, the input pipeline, label noise
//   RefSAMModels      MLP, ResNet18, ResNet50 (Flax names, layouts, initialisation)
//   RefSAMTraining    the SAM/SGD step, pruning, schedules, evaluation
//   RefSAMCheckpoint  Flax msgpack checkpoints
//   RefSAMRun         RunSpec (one value per run), its initial state, the training loop
//   RefSAMFixtures    train-step fixtures: write, replay, compare
//   RefSAMExperiments sweeps, Hessian sharpness, the convergence experiment, SVG figures
@_exported import RefTensor
@_exported import RefSAMConfig
@_exported import RefSAMParams
@_exported import RefSAMData
@_exported import RefSAMModels
@_exported import RefSAMTraining
@_exported import RefSAMCheckpoint
@_exported import RefSAMRun
@_exported import RefSAMFixtures
@_exported import RefSAMExperiments
