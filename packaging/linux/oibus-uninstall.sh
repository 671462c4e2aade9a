#!/bin/sh
# Remove an OIBus instance installed by oibus-setup.sh: its service, its install folder and its registry entry.
# The data folder is kept unless --purge-data is given.
#
#   sudo ./oibus-uninstall.sh [-n NAME] [--purge-data] [--root DIR] [--systemctl CMD] [--no-stop]
set -eu

name=oibus
purge=no
root=
systemctl_cmd=systemctl
stop=yes

fail() {
  echo "oibus-uninstall: $*" >&2
  exit 2
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    -n) [ "$#" -ge 2 ] || fail "option -n needs a value"; name=$2; shift 2 ;;
    --purge-data) purge=yes; shift ;;
    --root) [ "$#" -ge 2 ] || fail "option --root needs a value"; root=$2; shift 2 ;;
    --systemctl) [ "$#" -ge 2 ] || fail "option --systemctl needs a value"; systemctl_cmd=$2; shift 2 ;;
    --no-stop) stop=no; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done
case "$name" in
  ''|*[!A-Za-z0-9._-]*) fail "-n: instance name '$name' may hold only letters, digits, '.', '_' and '-'" ;;
esac

entry="$root/etc/oibus/instances/$name"
[ -f "$entry" ] || fail "no OIBus instance named '$name' ($entry is missing)"
install_dir=$(sed -n 1p "$entry")
data_dir=$(sed -n 2p "$entry")
if [ "$name" = oibus ]; then service=oibus; else service="oibus-$name"; fi
unit="$root/etc/systemd/system/$service.service"

if [ "$stop" = yes ]; then
  "$systemctl_cmd" disable --now "$service.service" || true
fi
rm -f "$unit"
[ "$stop" = yes ] && "$systemctl_cmd" daemon-reload
for item in oibus-launcher oibus-launcher_backup binaries update update.json backup upgrade-progress.json \
    oibus-env oibus-setup.sh manifest.json manifest.sig oibus-uninstall.sh; do
  rm -rf "${install_dir:?}/$item"
done
rmdir "$install_dir" 2>/dev/null || true
if [ "$purge" = yes ]; then
  rm -rf "${data_dir:?}"
fi
rm -f "$entry"
echo "OIBus instance '$name' removed (data folder $data_dir $( [ "$purge" = yes ] && echo deleted || echo kept ))"
