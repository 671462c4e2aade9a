#!/bin/sh
# Install OIBus from this unpacked bundle as a systemd service (upstream's options and layout).
#
#   sudo ./oibus-setup.sh [-b INSTALL_DIR] [-c DATA_DIR] [-n NAME] [-u ADMIN_USER] [-p ADMIN_PASSWORD]
#                         [-port PORT] [-k Y|N] [--root DIR] [--systemctl CMD] [--no-start]
#
#   -b      install folder (default ./OIBus); gets oibus-launcher, binaries/, oibus-env, oibus-uninstall.sh
#   -c      data folder (default ./OIBusData)
#   -n      instance name (default oibus; letters, digits, . _ -); the service is oibus.service for the
#           default name, oibus-NAME.service otherwise
#   -u/-p   first admin user and password, -port the HTTP port: written to DATA_DIR/oibus.init.json
#           (mode 600) when the data folder has no oibus.db yet; the engine reads and deletes it
#   -k      keep the existing configuration (Y, default) or wipe it (N: oibus.db, crypto.db, cache, error,
#           archive, logs, certs)
#   --root  prefix of the system folders (/etc/systemd/system, /etc/oibus/instances): tests use a temp folder
#   --systemctl  the systemctl command to run (default systemctl); --no-start: do not run it at all
set -eu

here=$(cd "$(dirname "$0")" && pwd)
install_dir=./OIBus
data_dir=./OIBusData
name=oibus
admin_user=
admin_password=
port=
keep=Y
root=
systemctl_cmd=systemctl
start=yes

fail() {
  echo "oibus-setup: $*" >&2
  exit 2
}

need_value() {
  [ "$#" -ge 2 ] || fail "option $1 needs a value"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    -b) need_value "$@"; install_dir=$2; shift 2 ;;
    -c) need_value "$@"; data_dir=$2; shift 2 ;;
    -n) need_value "$@"; name=$2; shift 2 ;;
    -u) need_value "$@"; admin_user=$2; shift 2 ;;
    -p) need_value "$@"; admin_password=$2; shift 2 ;;
    -port|--port) need_value "$@"; port=$2; shift 2 ;;
    -k) need_value "$@"; keep=$2; shift 2 ;;
    --root) need_value "$@"; root=$2; shift 2 ;;
    --systemctl) need_value "$@"; systemctl_cmd=$2; shift 2 ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

case "$name" in
  ''|*[!A-Za-z0-9._-]*) fail "-n: instance name '$name' may hold only letters, digits, '.', '_' and '-'" ;;
esac
case "$keep" in
  Y|y) keep=Y ;;
  N|n) keep=N ;;
  *) fail "-k: expected Y or N, got '$keep'" ;;
esac
if [ -n "$port" ]; then
  case "$port" in
    *[!0-9]*) fail "-port: expected a number from 1 to 65535, got '$port'" ;;
  esac
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "-port: expected a number from 1 to 65535, got '$port'"
fi
[ -x "$here/oibus-launcher" ] && [ -x "$here/binaries/oibus" ] || fail "run me from an unpacked OIBus bundle"

mkdir -p "$install_dir" "$data_dir"
install_dir=$(cd "$install_dir" && pwd)
data_dir=$(cd "$data_dir" && pwd)
for path in "$install_dir" "$data_dir"; do
  # systemd unit files give % and \ a meaning, and the environment file is line-based.
  case "$path" in
    *%*|*\\*|*\"*|*'$'*) fail "folder '$path': the characters % \\ \" \$ are not supported" ;;
  esac
done
[ "$install_dir" != "$data_dir" ] || fail "-b and -c must be different folders"

# One instance per folder: another instance's install or data folder is refused.
registry="$root/etc/oibus/instances"
mkdir -p "$registry"
for entry in "$registry"/*; do
  [ -f "$entry" ] || continue
  [ "$(basename "$entry")" = "$name" ] && continue
  other_install=$(sed -n 1p "$entry")
  other_data=$(sed -n 2p "$entry")
  for path in "$install_dir" "$data_dir"; do
    if [ "$path" = "$other_install" ] || [ "$path" = "$other_data" ]; then
      fail "folder '$path' belongs to the instance '$(basename "$entry")'"
    fi
  done
done

if [ "$name" = oibus ]; then service=oibus; else service="oibus-$name"; fi
unit="$root/etc/systemd/system/$service.service"
if [ "$start" = yes ] && [ -f "$unit" ]; then
  "$systemctl_cmd" stop "$service.service" || true
fi

if [ "$keep" = N ]; then
  for item in oibus.db crypto.db cache error archive logs certs; do
    rm -rf "${data_dir:?}/$item"
  done
fi

# Escape a value for a JSON string (backslash and double quote; control characters are refused).
json_string() {
  case "$1" in
    *[[:cntrl:]]*) fail "$2: control characters are not allowed" ;;
  esac
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

if [ ! -f "$data_dir/oibus.db" ] && { [ -n "$admin_user" ] || [ -n "$admin_password" ] || [ -n "$port" ] || [ "$name" != oibus ]; }; then
  fields="\"engineName\": $(json_string "$name" -n)"
  [ -n "$admin_user" ] && fields="$fields, \"adminUsername\": $(json_string "$admin_user" -u)"
  [ -n "$admin_password" ] && fields="$fields, \"adminPassword\": $(json_string "$admin_password" -p)"
  [ -n "$port" ] && fields="$fields, \"port\": $port"
  (umask 077 && printf '{%s}\n' "$fields" > "$data_dir/oibus.init.json")
  chmod 600 "$data_dir/oibus.init.json"
fi

if [ "$install_dir" != "$here" ]; then
  rm -rf "$install_dir/binaries"
  cp -R "$here/binaries" "$install_dir/binaries"
  cp "$here/oibus-launcher" "$install_dir/oibus-launcher"
  for file in oibus-setup.sh oibus-uninstall.sh manifest.json manifest.sig; do
    [ -f "$here/$file" ] && cp "$here/$file" "$install_dir/$file"
  done
fi
chmod 755 "$install_dir/oibus-launcher" "$install_dir/binaries/oibus"

printf 'ARG1=--config\nARG2=%s\n' "$data_dir" > "$install_dir/oibus-env"

mkdir -p "$(dirname "$unit")"
cat > "$unit" <<EOF
[Unit]
Description=OIBus ($name)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=$install_dir
EnvironmentFile=$install_dir/oibus-env
ExecStart="$install_dir/oibus-launcher" \${ARG1} \${ARG2}
# The launcher gets SIGTERM and stops the engine gracefully (the engine lets its Norths flush);
# whatever is left when it exits, or after TimeoutStopSec, is killed.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=90
Restart=always
RestartSec=5s

[Install]
WantedBy=multi-user.target
EOF

printf '%s\n%s\n' "$install_dir" "$data_dir" > "$registry/$name"

if [ "$start" = yes ]; then
  "$systemctl_cmd" daemon-reload
  "$systemctl_cmd" enable --now "$service.service"
fi
echo "OIBus instance '$name' installed in $install_dir (data in $data_dir), service $service.service"
