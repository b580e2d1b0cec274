"`python -m advcourse ...`: the `advcourse` command (so that `torchrun -m advcourse run ...` works)."
from advcourse.cli import main

if __name__ == '__main__': main()
