#!/bin/sh
# Start moto on 127.0.0.1:PORT with auth on; writes STATE_DIR/moto.env (see moto_up.py).
# usage: scripts/s3/moto-up.sh PORT STATE_DIR [--owner-pid PID]
exec python3 "$(dirname "$0")/moto_up.py" "$@"
