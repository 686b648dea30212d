from hwfw.cli import main

main()
