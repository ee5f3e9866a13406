# Sourced by scripts that start servers on 127.0.0.1: a free port to start one on, and a wait,
# bounded at 20 s, until its port accepts connections.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  local _
  for _ in $(seq 2000); do
    /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $1)).close()" \
      2>/dev/null && return 0
    sleep 0.01
  done
  echo "port $1 never opened" >&2
  return 1
}
