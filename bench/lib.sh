# Helpers the bench scripts share; `source "$repo/bench/lib.sh"`.

# A TCP port free on 127.0.0.1 right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# CPU ticks (user + system, 1/100 s) process PID has used; 0 once it is gone.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wait_listening PORT: until something accepts on it (5 s at most).
wait_listening() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
}

# stop_server PID: SIGTERM, then SIGKILL if it is still there 5 s later. A server started in a
# command substitution is not the caller's child, so `wait` cannot tell: a peer that lingered
# after SIGTERM (Python websockets closing 1,000 backlogged connections) kept broadcasting and
# spoiled every later row of a batch.
stop_server() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
}
