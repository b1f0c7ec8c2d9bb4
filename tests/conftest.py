"""Suite-wide set-up.

Some tests interrupt a running `rewardsmith evolve` with SIGINT, as a person pressing Ctrl-C would. A shell starts
background jobs (`cmd &`, nohup, some CI runners) with SIGINT ignored, children inherit that, and Python then keeps
ignoring it: the interrupted run would finish instead. Restoring Python's handler (and unblocking SIGINT, which a
launcher may also have blocked: children inherit the mask too) makes the children start able to see Ctrl-C,
whatever launched the suite."""

import signal

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
