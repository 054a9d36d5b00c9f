"""``lumbarseg infer``: batch inference on folders of DICOM/PNG files (see lumbarseg.inference)."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="model config (.yaml)")
    parser.add_argument("--weights", help="checkpoint path or URL")
    parser.add_argument("--model", metavar="BUNDLE",
                        help="a .lsm model bundle (lumbarseg export-model) instead of "
                        "--config/--weights")
    parser.add_argument("--runtime", choices=("pytorch", "onnxruntime"), default="pytorch",
                        help="run the network with PyTorch or ONNX Runtime (CPU)")
    parser.add_argument("--input", nargs="+", required=True, metavar="PATH",
                        help="folders (walked recursively) and/or files")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--fuse-config", help="second model's config (e.g. PointRend) to fuse")
    parser.add_argument("--fuse-weights", help="second model's checkpoint")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="images per forward pass, grouped by padded size (default 4); "
                        "lower it when GPU memory runs out")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding processes (default: from the CPU count)")
    parser.add_argument("--label-workers", type=int, default=None,
                        help="processes that label and write the results; 0 = in the main "
                        "process between batches (default: 0 on CPU; on CUDA min(4, half the "
                        "default decoding workers))")
    parser.add_argument("--resume", action="store_true",
                        help="skip images whose per-image record is complete")
    parser.add_argument("--overlays", action="store_true", help="write overlays/<key>.png")
    parser.add_argument("--keep-phi", action="store_true",
                        help="for DICOM inputs, copy PatientID, PatientName, AccessionNumber, "
                        "StudyDate and the Study/Series/SOP Instance UIDs into "
                        "per_image/<key>.json (a 'phi' block) and into summary.csv columns "
                        "(off by default)")
    parser.add_argument("--keep-paths", action="store_true",
                        help="name each image by its path relative to the input folder in "
                        "images.json (file_name), per_image/<key>.json, summary.csv and "
                        "run.json, and write the absolute input folder into run.json (off by "
                        "default: the image key only; the key-to-path linkage is in "
                        "OUT/private/linkage.csv, which is not for sharing)")
    parser.add_argument("--image-secret-file", metavar="FILE",
                        help="secret of the image keys (first line, 16+ characters), to give "
                        "the same images the same keys in several output folders (default: a "
                        "random one made for OUT, kept in OUT/private/image_secret.txt)")
    parser.add_argument("--show-burned-in", action="store_true",
                        help="draw the overlays of images marked BurnedInAnnotation YES on "
                        "their pixels (default: on a blank canvas, so burned-in names and "
                        "dates stay out of shareable images)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="process only shard I of N (0-based; for job arrays)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="stop after this many images (resume later with --resume)")
    parser.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    parser.add_argument("--no-labeller", action="store_true",
                        help="levels from the detector classes only (no anatomy postprocessor)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes (GPUs) per machine")
    parser.add_argument("--num-machines", type=int, default=1,
                        help="machines in a multi-machine run (default 1); run the same "
                        "command on each with its own --machine-rank")
    parser.add_argument("--machine-rank", type=int, default=0,
                        help="this machine's index, 0 .. num-machines-1 (0: the machine "
                        "--dist-url points at; default 0)")
    parser.add_argument("--dist-url", default="auto",
                        help="tcp://HOST:PORT of machine 0 for multi-machine runs")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides: KEY VALUE ... (after the options)")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.errors import LumbarsegError
    from lumbarseg.inference import InferenceOptions, run_inference
    from lumbarseg.inference.discovery import parse_shard

    if args.model and (args.config or args.weights):
        raise LumbarsegError("give either --model or --config with --weights, not both")
    if not args.model and not (args.config and args.weights):
        raise LumbarsegError("a model is needed: --model BUNDLE, or --config and --weights")
    if args.model and not args.model.endswith(".lsm"):
        raise LumbarsegError(f"--model {args.model}: a model bundle's name ends in .lsm")
    config = args.model or args.config  # a .lsm config is read as a bundle (lumbarseg.deploy)
    weights = args.model or args.weights
    device = args.device or ("cpu" if args.runtime == "onnxruntime" else None)

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    logging.getLogger("lumbarseg").setLevel(logging.WARNING if args.quiet else logging.INFO)
    options = InferenceOptions(
        config=config, weights=weights, inputs=list(args.input), out=args.out,
        opts=list(args.opts), fuse_config=args.fuse_config, fuse_weights=args.fuse_weights,
        device=device, batch_size=args.batch_size, num_workers=args.workers,
        label_workers=args.label_workers,
        amp=not args.no_amp, resume=args.resume, overlays=args.overlays,
        keep_phi=args.keep_phi, keep_paths=args.keep_paths,
        image_secret_file=args.image_secret_file,
        show_burned_in=args.show_burned_in, shard=parse_shard(args.shard),
        max_images=args.max_images,
        use_postprocess=not args.no_labeller, progress=not args.quiet,
        num_gpus=args.num_gpus, num_machines=args.num_machines,
        machine_rank=args.machine_rank, dist_url=args.dist_url, runtime=args.runtime,
    )
    status = run_inference(options)
    if status:
        print(f"lumbarseg infer: some files failed; see {args.out}/run.json", file=sys.stderr)
    return status
