"""reproduce.py's Ray flags and their usage errors, apart from orchestration/ray_cluster.py so
that a plan without --ray never imports the module that calls Ray."""

from reproduction.plumbing.cli import float_in_range, int_in_range, ray_address

RAY_FLAGS = ("ray_cpus_per_task", "ray_gpus_per_task", "ray_chunk_runs")


def add_ray_flags(parser):
    ray = parser.add_argument_group(
        'Ray (optional extra: pip install -e ".[cluster]"; see docs/ray.md)'
    )
    ray.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        type=ray_address,
        help="run each planned run as a Ray task: --ray alone starts a local Ray "
        "instance with this machine's cores; 'auto' or an address (such as "
        "HEAD:6379) joins a running cluster",
    )
    ray.add_argument(
        "--ray-cpus-per-task",
        type=float_in_range(0, 1024),
        metavar="N",
        help="CPUs each task declares (default 2: a script sizes its threads to "
        "the node's cores, tuned on 2)",
    )
    ray.add_argument(
        "--ray-chunk-runs",
        type=int_in_range(1, 1_000_000),
        metavar="K",
        help="split each CIFAR-10 study (Dense and CNN) into tasks of at most K "
        "runs, spread over the cluster and merged into the study's record "
        "(default 2: a 2-core node trains two Dense networks side by side); XOR "
        "and MNIST studies stay one task each",
    )
    ray.add_argument(
        "--ray-gpus-per-task",
        type=float_in_range(0, 64, low_inclusive=True),
        metavar="F",
        help="GPUs (or a fraction of one) each task declares (default 1 with --device gpu, else 0)",
    )


def check_ray_flags(parser, args):
    """--ray's usage errors, before anything runs: Ray not installed (the extra named), a
    --ray-* option without --ray, --ray with --render. Fills in the per-task defaults."""
    if args.ray is None or args.render:
        for flag in ("ray", *RAY_FLAGS) if args.render else RAY_FLAGS:
            if getattr(args, flag) is not None:
                parser.error(
                    f"--{flag.replace('_', '-')} needs --ray"
                    if flag != "ray"
                    else "--ray and --render: --render trains nothing"
                )
        return
    from reproduction.orchestration.ray_cluster import ClusterError, import_ray  # only with --ray

    try:
        import_ray()
    except ClusterError as error:
        parser.error(str(error))
    defaults = (2.0, 1.0 if args.device == "gpu" else 0.0, 2)
    for flag, default in zip(RAY_FLAGS, defaults, strict=True):
        if getattr(args, flag) is None:
            setattr(args, flag, default)
