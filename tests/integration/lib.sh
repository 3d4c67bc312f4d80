# Shared by the integration scripts (source it; they set -euo pipefail).

# A TCP port on loopback that nothing listens on right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for beex-server on 127.0.0.1:PORT to answer ListModels;
# the caller's next call says whether it came up.
wait_for_server() {  # BIN_DIR PORT
  for _ in $(seq 100); do
    "$1/client/beex-client" --addr "127.0.0.1:$2" list >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 0
}
