from voxplan.cli import main

main(prog_name="voxplan")
