"""Process helpers shared by the S3 test servers' scripts (moto_up.py, fault_proxy.py, imds_double.py)."""
import os
import signal
import threading
import time


def alive(pid):
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def reset_signals():
    """A parent (e.g. a test runner's worker thread) may have blocked signals; children inherit
    that mask, and SIGTERM would then never stop them."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def take_owner_pid(args):
    """Removes `--owner-pid PID` from args; returns PID or None."""
    if "--owner-pid" not in args:
        return None
    i = args.index("--owner-pid")
    owner = int(args[i + 1])
    del args[i:i + 2]
    return owner


def serve(server, owner):
    """Prints the port `server` listens on as stdout's first line (the tests read it there), then
    serves until SIGTERM or, with `owner` not None, until that process ends."""
    print(server.server_address[1], flush=True)
    if owner is not None:
        def watch():
            while True:
                if not alive(owner):
                    os._exit(0)
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()
    server.serve_forever()
