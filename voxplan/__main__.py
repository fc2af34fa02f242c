from voxplan.cli import run

run()
