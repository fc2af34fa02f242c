from voxplan.entry import run

run()
