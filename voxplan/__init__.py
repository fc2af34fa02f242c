"""voxplan: Terraform for voice-AI telephony.

The flow is one-way: stack -> expand -> graph -> refresh -> diff -> render -> apply.
"""

__version__ = "0.1.0"
