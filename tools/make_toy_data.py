"""Write a built-in toy dataset: COCO-format shapes for detection, ADE20K-format for segmentation.

    python tools/make_toy_data.py coco data/toy_coco [--train 400] [--val 50] [--size 160] \
        [--seed 0]
"""
import argparse
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('kind', choices=['coco', 'ade'], help='dataset format')
    parser.add_argument('root', help='output folder')
    parser.add_argument('--train', type=int, default=400, help='training images')
    parser.add_argument('--val', type=int, default=50, help='validation images')
    parser.add_argument('--size', type=int, default=160, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true', help='rewrite even if complete')
    args = parser.parse_args(argv)
    start = time.time()
    if args.kind == 'coco':
        from swin_mm.data import generate_toy_coco as generate
    else:
        from swin_mm.data import generate_toy_ade as generate
    generate(args.root, num_train=args.train, num_val=args.val, size=(args.size, args.size),
             seed=args.seed, overwrite=args.overwrite)
    print(f'{args.kind} toy dataset in {args.root} ({args.train} train / {args.val} val images, '
          f'{time.time() - start:.1f} s)')


if __name__ == '__main__':
    main()
