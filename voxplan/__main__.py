from voxplan.cli import main

main()
