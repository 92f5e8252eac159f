from kernelswarm.cli import main

main()
