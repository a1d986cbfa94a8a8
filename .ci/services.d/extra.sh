# Sourced by .ci/run (bash, set -euo pipefail; log, as_root, apt_install,
# port_open and wait_port come from there). Makes sure the brokers the
# ingestion tests use are installed and running on loopback, idempotently:
# a service already listening is left alone.

# --- Mosquitto (MQTT, tcp://127.0.0.1:1883) --------------------------------
: "${VIGIL_TEST_MQTT:=tcp://127.0.0.1:1883}"
if [ "$VIGIL_TEST_MQTT" = "tcp://127.0.0.1:1883" ] && ! port_open 1883; then
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_install mosquitto
	mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
	dir="${TMPDIR:-/tmp}/vigil-ci-mosquitto"
	mkdir -p "$dir"
	# Persistent sessions, and a queue deep enough that QoS 1 messages for a
	# subscriber that is down or slow are kept, not dropped (the default
	# max_queued_messages of 1000 drops the rest).
	cat >"$dir/mosquitto.conf" <<CONF
listener 1883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
max_queued_messages 1000000
CONF
	if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown -R mosquitto "$dir"; fi
	log "starting Mosquitto on 127.0.0.1:1883"
	"$mosq" -d -c "$dir/mosquitto.conf"
	wait_port 1883
fi
export VIGIL_TEST_MQTT

# --- NATS (nats://127.0.0.1:4222, JetStream) -------------------------------
: "${VIGIL_TEST_NATS:=nats://127.0.0.1:4222}"
if [ "$VIGIL_TEST_NATS" = "nats://127.0.0.1:4222" ] && ! port_open 4222; then
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || apt_install nats-server
	nats=$(command -v nats-server || echo /usr/sbin/nats-server)
	dir="${TMPDIR:-/tmp}/vigil-ci-nats"
	mkdir -p "$dir"
	log "starting NATS on 127.0.0.1:4222"
	nohup "$nats" -a 127.0.0.1 -p 4222 -js -sd "$dir" -l "$dir/nats.log" >/dev/null 2>&1 &
	disown || true
	wait_port 4222
fi
export VIGIL_TEST_NATS
