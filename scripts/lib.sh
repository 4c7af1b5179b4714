# Shared helpers for the scripts (sourced, not run).

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# write_broker_config DIR PORT: DIR/mosquitto.conf for a private mosquitto with persistence in
# DIR, on 127.0.0.1:PORT.
write_broker_config() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  {
    [ "$(id -u)" -eq 0 ] && echo "user root"
    echo "listener $port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence true"
    echo "persistence_location $dir/"
    echo "max_queued_messages 1000000"
    echo "max_inflight_messages 100"
    echo "log_dest file $dir/mosquitto.log"
  } > "$dir/mosquitto.conf"
}

# start_broker DIR PORT: that broker, started (its pid in BROKER_PID).
start_broker() {
  local dir=$1 port=$2
  write_broker_config "$dir" "$port"
  local mosquitto
  mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  "$mosquitto" -c "$dir/mosquitto.conf" &
  BROKER_PID=$!
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "broker did not start; see $dir/mosquitto.log" >&2
  return 1
}
