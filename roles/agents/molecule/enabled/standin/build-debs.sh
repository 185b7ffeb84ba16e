#!/bin/sh
# Builds two stand-in packages named like AWS's agents (the real .deb files are downloaded from
# AWS at deploy time, which the test machine cannot reach). They carry what the role touches:
# a systemd unit per agent, the cwagent user, and amazon-cloudwatch-agent-ctl, whose
# fetch-config checks the JSON, records it and restarts the agent as the real one does.
# Usage: build-debs.sh OUTDIR
set -eu
out="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

pkg() {  # name version
    mkdir -p "$work/$1/DEBIAN"
    cat > "$work/$1/DEBIAN/control" <<CTRL
Package: $1
Version: $2
Architecture: all
Maintainer: clickstream tests <tests@localhost>
Description: test stand-in for $1
CTRL
}

# amazon-ssm-agent
pkg amazon-ssm-agent 0.0.1-standin
mkdir -p "$work/amazon-ssm-agent/usr/bin" "$work/amazon-ssm-agent/lib/systemd/system"
printf '#!/bin/sh\nexec sleep infinity\n' > "$work/amazon-ssm-agent/usr/bin/amazon-ssm-agent"
chmod 0755 "$work/amazon-ssm-agent/usr/bin/amazon-ssm-agent"
cat > "$work/amazon-ssm-agent/lib/systemd/system/amazon-ssm-agent.service" <<'UNIT'
[Unit]
Description=amazon-ssm-agent (test stand-in)
[Service]
ExecStart=/usr/bin/amazon-ssm-agent
[Install]
WantedBy=multi-user.target
UNIT
dpkg-deb --root-owner-group --build "$work/amazon-ssm-agent" "$out/amazon-ssm-agent.deb" >/dev/null

# amazon-cloudwatch-agent
p="$work/amazon-cloudwatch-agent"
pkg amazon-cloudwatch-agent 0.0.1-standin
mkdir -p "$p/opt/aws/amazon-cloudwatch-agent/bin" "$p/opt/aws/amazon-cloudwatch-agent/etc" \
         "$p/opt/aws/amazon-cloudwatch-agent/logs" "$p/lib/systemd/system"
printf '#!/bin/sh\nexec sleep infinity\n' > "$p/opt/aws/amazon-cloudwatch-agent/bin/start-amazon-cloudwatch-agent"
cat > "$p/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl" <<'CTL'
#!/bin/sh
# Stand-in: amazon-cloudwatch-agent-ctl -a fetch-config -m MODE -s -c file:PATH
set -eu
action=""; config=""; mode=""
while [ $# -gt 0 ]; do
    case "$1" in
        -a) action="$2"; shift 2 ;;
        -c) config="${2#file:}"; shift 2 ;;
        -m) mode="$2"; shift 2 ;;
        *) shift ;;
    esac
done
[ "$action" = fetch-config ] || { echo "unsupported action $action" >&2; exit 1; }
case "$mode" in ec2|onPremise) ;; *) echo "bad mode $mode" >&2; exit 1 ;; esac
python3 -m json.tool "$config" > /opt/aws/amazon-cloudwatch-agent/etc/loaded-config.json
systemctl restart amazon-cloudwatch-agent
CTL
chmod 0755 "$p/opt/aws/amazon-cloudwatch-agent/bin/"*
cat > "$p/lib/systemd/system/amazon-cloudwatch-agent.service" <<'UNIT'
[Unit]
Description=amazon-cloudwatch-agent (test stand-in)
[Service]
ExecStart=/opt/aws/amazon-cloudwatch-agent/bin/start-amazon-cloudwatch-agent
[Install]
WantedBy=multi-user.target
UNIT
printf '#!/bin/sh\nset -e\ngetent passwd cwagent >/dev/null || useradd --system --no-create-home cwagent\n' > "$p/DEBIAN/postinst"
chmod 0755 "$p/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$p" "$out/amazon-cloudwatch-agent.deb" >/dev/null
