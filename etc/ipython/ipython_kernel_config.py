"""IPython kernel configuration installed by ``make setup`` as ``.venv/etc/ipython/ipython_kernel_config.py``
(IPython reads ``<sys.prefix>/etc/ipython``), so that every kernel of the project's environment
(papermill, ``jupyter execute``, nbval) loads it.

It filters one log line where the kernel emits it: "Kernel is running over TCP without
encryption ...", which ipykernel prints on every start over TCP (the only transport papermill
uses) and which says nothing about the book. Every other kernel message is kept.
"""
import logging


class _NoTCPEncryptionWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "running over TCP without encryption" not in record.getMessage()


logging.getLogger("IPKernelApp").addFilter(_NoTCPEncryptionWarning())
