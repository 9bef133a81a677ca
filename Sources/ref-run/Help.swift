import RefSAM

/// Help texts for `ref-run --help` and `ref-run help SUBCOMMAND`.
enum Help {
    static let overview = """
    ref-run \(RefRun.version): a pure-Swift reference of SAM training (Shin et al., UAI 2025).

    USAGE
      ref-run [train] --workdir=DIR --config=FILE [--config.KEY=VALUE ...]   train and evaluate
      ref-run eval --config=FILE --checkpoint=PATH                            test loss/accuracy of a checkpoint
      ref-run verify FIXTURE_DIR [--rtol R] [--atol A]                        replay a train-step fixture
      ref-run replay FIXTURE_DIR --out DIR                                   the reference's own step on its inputs
      ref-run diagnose FIXTURE_DIR                                           name the known bug a failing fixture has
      ref-run golden --config=FILE --out DIR [--steps K] [--synthetic]        write fixtures of this reference
      ref-run bench gemm|conv|step ...                                       benchmarks (JSON lines)
      ref-run sweep --config=FILE --workdir=DIR --grid 'KEY=[V1,...]' ...    a grid of training runs, sweep.csv, figures
      ref-run sharpness --config=FILE --checkpoint=PATH [--out R.json]       Hessian eigenvalue, trace, moments, m-sharpness
      ref-run spectra --out F.svg R.json...                                  Hessian spectral densities of sharpness reports
      ref-run converge --workdir=DIR [--widths 16,64,...]                    the convergence experiment (docs/RESULTS.md)
      ref-run help [SUBCOMMAND]                                               this text, or a subcommand's

    Flags take --flag=value or --flag value. --threads N (every subcommand) sets the
    worker threads (default: all cores); results are bit-identical for any N.
    --conv direct|winograd (every subcommand) sets how 3x3 stride-1 convolutions run:
    winograd (F(2x2,3x3): 16 products per 2x2 outputs instead of 36) is the default of
    the native build (make); direct (the definition's sums, bit-identical to it in the
    portable build) is the portable build's. They differ by rounding only (README, "Performance").
    --device cuda (train, verify, golden, bench step) takes the steps on an NVIDIA GPU:
    it needs a build with the CUDA backend (make cuda), an NVIDIA driver (libcuda.so.1,
    or CUDA_DRIVER_LIBRARY) and NVRTC (libnvrtc.so.13, or NVRTC_LIBRARY). Without a GPU,
    CUDA_DRIVER_LIBRARY=<make cuda-standin's library> runs it on the CPU emulator.
    See docs/CUDA.md.

    Exit status: 0 success; 2 the input is at fault (usage, a config, data file,
    checkpoint or fixture that is wrong, sizes too large for this machine); 1 a valid
    run failed (the loss diverged, a write was refused). Errors name the file, line,
    key or value, and what would be valid. See docs/RELIABILITY.md.
    """

    static let pages: [String: String] = [
        "train": """
        ref-run [train] --workdir=DIR --config=FILE [--config.KEY=VALUE ...] [--overwrite] [--threads N]
                        [--train_examples N] [--test_examples N] [--stop_after_epochs N] [--device cpu|cuda]

        Trains config's model as the original main.py does. The run directory is
          DIR/dataset_D/optimizer_O/model_M/lr_L/wd_W/rho_R/pruner_P/sparsity_S/seed_N
        (numbers spelled as Python's str()). It receives log.txt, metrics.jsonl (one JSON
        object per epoch: epoch, step, train_loss, train_accuracy, test_loss,
        test_accuracy, learning_rate, seconds), noisy_labels.json when label_noise > 0,
        and checkpoint_<step> after every epoch (Flax msgpack, newest 3 kept, written
        atomically). A run refuses to start over existing checkpoints unless
        --overwrite is given; --config.restore_checkpoint=True resumes from the newest,
        bit-identical to a run never interrupted. A NaN or infinite loss stops the run,
        naming epoch and step; the last good checkpoint stays.

        --train_examples / --test_examples use only the first N examples (quick looks).
        --stop_after_epochs N ends this process after N epochs without changing the
        schedule (num_epochs still sets the decay boundaries); resume later with
        --config.restore_checkpoint=True.
        --device cuda takes the steps and the evaluation on the GPU, the state kept there
        and copied back after every epoch for the checkpoint.

        Config files are the original's Python files, read without Python:
        config.KEY = literal assignments inside get_config(). Keys (default):
        \(Config.schema.map { "  \($0.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \($0.defaultValue.repr.padding(toLength: 12, withPad: " ", startingAt: 0)) \($0.help)" }.joined(separator: "\n"))
        """,
        "eval": """
        ref-run eval --config=FILE --checkpoint=PATH [--config.KEY=VALUE ...] [--test_examples N]

        Reports test loss and accuracy of a checkpoint: one written by ref-run, or by the
        original JAX code (flax legacy msgpack; masks as bool arrays; dynamic_scale nil).
        PATH may be a checkpoint file or a directory (its newest checkpoint_*).
        """,
        "verify": """
        ref-run verify FIXTURE_DIR... [--rtol R] [--atol A] [--failures-only] [--json] [--device cpu|cuda]

        Replays train-step fixtures (docs/FIXTURES.md) written by any backend and prints,
        per output tensor in the order the step computes them (loss, logits, first-pass
        gradients from the input side, SAM gradients, trace, params, batch_stats): pass or
        FAIL, error/tolerance (at most 1 passes), largest absolute and relative error,
        shape; NaN and infinities are counted and named. The last line names the first
        failing output and the failures per collection. A directory without fixture.json
        stands for its step_* subdirectories (a golden run).
        Tolerance: float64, |a - b| <= 1e-12 + 1e-9 |b| per element. float32, per output
        max |a - x| <= 4 S + eps32 max|x|, x this reference's float64 step on the same
        inputs and S the spread of 4 float32 trials of it (inputs as given; inputs moved
        1 ulp with float32 summation error emulated in BatchNorm's sums): the error a
        correct float32 step makes on these inputs (docs/FIXTURES.md, "Float32").
        --rtol/--atol instead compare per element in the fixture's dtype (the other
        defaulting to 1e-9/1e-12 for float64, 1e-4/1e-6 for float32).
        --failures-only prints only failing outputs; --json prints one JSON object per
        output and one summary object per fixture.
        Strict: a fixture with no outputs, a tensor whose dtype is not the fixture's, or
        trace/ inputs missing for some parameter (or all, without "trace": "zero") is
        malformed.
        --device cuda checks the CUDA backend instead: its step on each fixture's inputs
        is written as a fixture and verified by this reference like any backend's.
        Exit status: 0 all pass; 1 an output fails or is missing; 2 a fixture is malformed.
        """,
        "replay": """
        ref-run replay FIXTURE_DIR --out DIR

        Runs this reference's step on the fixture's inputs (in its dtype) and writes it to
        DIR as a fixture: the same inputs, every output the step makes (whatever the
        fixture listed), and under intermediates/ what tells bugs apart: grad_norm (the
        first-pass gradient's global norm, one per shard), perturbation/<path> (SAM's
        ascent point minus the parameters), sam_grads/<path> (the gradient at the ascent
        point before weight decay), batch_moments_first/ and batch_moments_second/ (each
        BatchNorm's batch mean and variance in the first and the perturbed pass). With
        several shards the per-shard tensors are under shard_<d>/. Compare a backend's
        tensors with these to find where it departs. Exit 2 when the fixture is malformed
        or DIR already holds a fixture.
        """,
        "diagnose": """
        ref-run diagnose FIXTURE_DIR [--rtol R] [--atol A]

        When a fixture fails, replays it under each known variant of the step and names
        those under which every output passes: BatchNorm statistics from the perturbed
        pass, unbiased running variance, per-layer gradient norm, no 1e-12 in the norm,
        an unnormalised ascent, weight decay at the ascent point or omitted, dampening,
        Nesterov, the learning rate inside the trace, SAME padding, SGD for SAM (or the
        reverse). Without a match it lists the closest variants. Under sam_shards each
        variant is taken in every shard. Exit status: 0 the fixture passes as is; 1 it
        fails; 2 malformed.
        """,
        "golden": """
        ref-run golden --config=FILE [--config.KEY=VALUE ...] --out DIR [--dtype float64] [--steps K]
                       [--batch N] [--synthetic] [--no-mask] [--probe] [--device cpu|cuda]

        Writes K consecutive one-step fixtures of this reference, DIR/step_000 ... , from
        the config's model, seeded initialisation, pruning mask and first training
        batches (with --synthetic: seeded random images of the dataset's shape, so no
        data is needed). --batch overrides batch_size; --dtype sets the dtype the fixtures
        are written in (default float32, or config.dtype when the config sets it).
        The mask follows the original's pruning rule, which prunes the lowest-scoring
        weight of every kernel even at sparsity 0, so mask/ inputs are written then too;
        --no-mask writes no mask (parameters as initialised) for backends without pruning.
        --probe sets weight_decay 0.05 and rho 0.5 (explicit --config. values still win):
        at the configs' 5e-4 and 0.05, weight decay at the ascent point or omitted can
        change a float32 ResNet step less than float32 rounding does, so verify cannot
        fail them; a probe fixture makes every known bug show (docs/FIXTURES.md).
        --device cuda writes the CUDA backend's steps instead (verify them with ref-run verify).
        """,
        "bench": """
        ref-run bench gemm --m M --n N --k K [--layout NN|TN|NT|TT] [--threads T] [--repeat R] [--per-call]
        ref-run bench conv --batch B --size S --cin C --cout O --kernel K [--stride S] [--threads T] [--per-call]
        ref-run bench step --model MLP --num_neurons 300,100 | --model ResNet18 --num_filters 8
                           [--batch 128] [--optimizer sam] [--steps S] [--threads T] [--dtype float32]
                           [--device cpu|cuda] [--per-call]

        Prints one JSON object per line. Build with -c release for meaningful numbers.
        Each figure is the median of the timed calls (after one warm-up call; two for
        step). --per-call adds every call's milliseconds (per_call_ms) and the minor
        page faults the process took during it (per_call_page_faults): the first calls
        of a process show what allocation and thread start-up cost.
        gemm --layout: T stores that operand transposed, as the backward pass reads it
        (TN: A = x^T of dW = x^T dy; NT: B = W^T of dx = dy W^T).
        step --device cuda times steps on the GPU: the state stays there, each step
        uploads its batch and copies back its loss and logits.
        """,
        "sweep": """
        ref-run sweep --config=FILE --workdir=DIR --grid 'KEY=[V1,V2,...]' [--grid ...] [--config.KEY=VALUE ...]
                      [--train_examples N] [--test_examples N] [--dry-run | --report] [--threads N]

        Trains every combination of the grid's values (the first --grid varies slowest),
        each value written as --config.KEY=V would be: 'num_neurons=[[75,25],[150,50]]',
        'optimizer=[sgd,sam]', 'seed=[1,2,3]', 'label_noise=[0.0,0.2]', 'sparsity=[0.0,0.9]'.
        Run k is exactly the run of the training command the sweep prints for it, with
        --workdir=DIR/runs/NAME (NAME: key=value,... of its point), so its log, metrics
        and checkpoints are where `ref-run train` puts them.
        Resumable: a run whose metrics.jsonl holds every epoch is skipped, a run with
        checkpoints continues from the newest (bit-identical to an uninterrupted one), a
        run that diverged (failed.txt) is not retried. A directory holding a run of
        another config is refused. Interrupt at any time and call again.
        A progress line (runs done, epoch, step, ETA of the sweep) goes to standard error.
        Writes DIR/sweep.csv (one row per run: the varied settings, parameters, status,
        epochs, best and final test accuracy, final test loss, final train loss and
        accuracy, training seconds, run directory) and the figures DIR/accuracy.svg
        (final test accuracy against parameter count, or the first numeric axis; mean
        over seeds, bars min to max), gain.svg (SAM - SGD, paired by seed) and
        train_loss.svg, and DIR/summary.md (a Markdown table, seeds pooled). --dry-run lists
        the runs, their state and commands; --report writes the report from the runs'
        files as they stand and trains nothing (safe while the sweep runs elsewhere).
        Exit status: 0 all runs finished; 1 a run failed; 2 bad input.
        """,
        "sharpness": """
        ref-run sharpness --config=FILE --checkpoint=PATH [--config.KEY=VALUE ...] [--examples 1000]
                          [--power_iterations 100] [--trace_probes 20] [--slq_probes 3]
                          [--lanczos_steps 30] [--seed 0] [--label L] [--out REPORT.json]

        Measures the training loss's curvature at a checkpoint (give the run's config),
        on the first --examples training examples (with the run's label noise, no
        augmentation), in chunks of batch_size (BatchNorm in training mode per chunk),
        in Double, without weight decay:
          lambda_max   the largest-magnitude Hessian eigenvalue (power iteration);
          trace        Hutchinson's estimate of tr(H) (Rademacher probes) +- its standard error;
          moments      tr(H^k)/n, k = 1..4, by stochastic Lanczos quadrature (SLQ);
          m-sharpness  mean over chunks of L(w + rho g/|g|) - L(w): SAM's one ascent step.
        Hessian-vector products are central differences of gradients (step 1e-5) with
        every ReLU's activation pattern frozen at w: the Hessian of the network's smooth
        piece at w, as autodiff with ReLU'' = 0 gives it. --out writes every number and
        the SLQ nodes and weights as JSON (for `ref-run spectra`).
        """,
        "spectra": """
        ref-run spectra --out FILE.svg [--title T] REPORT.json...

        Draws the Hessian spectral densities of `sharpness --out` reports on one chart:
        each report's SLQ nodes, Gaussian-broadened (sigma 1% of the eigenvalue range),
        on a log scale.
        """,
        "converge": """
        ref-run converge --workdir=DIR [--widths 16,64,256,1024] [--methods gd,sam,usam] [--examples 64]
                         [--batch N] [--lr 0.05] [--rho 0.05] [--steps 2000] [--record_every 10] [--seed 1]

        The convergence experiment: a two-layer ReLU network of each width (the MLP with
        num_neurons [m], LeCun-initialised as the original) fits the first --examples
        MNIST training images with one-hot targets under the squared loss
        L = 1/(2n) sum |f(x) - y|^2 (interpolation is possible once the parameters
        outnumber the 10n targets), with a fixed rate, no momentum, no weight decay, in
        Double: gd, sam (w - lr grad L(w + rho g/|g|)) and usam (w - lr grad L(w + rho g)).
        --batch below --examples samples batches (a seeded shuffle per epoch).
        Writes DIR/converge.csv (final loss and the linear rate fitted to the second half
        of each curve: the loss's factor per step and steps per decade), curves.json and
        converge.svg (loss against step, log scale) and rate.svg (steps per decade against
        parameter count, per method).
        """,
    ]
}
