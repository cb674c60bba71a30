# Sourced by the connect-cost scripts: the Nginx+Nchan they measure pushgate against.
#
#   write_nchan_conf <work dir> <port> <nchan module> [extra main-context directives]
#
# Writes <work dir>/nginx/nginx.conf: one worker, as many connections as the open-file limit
# allows, no access log, Nchan's websocket subscriber on /sub/<channel> and its publisher on
# /pub/<channel>. NCHAN_LISTEN adds parameters to the `listen` directive, e.g. "deferred"
# (TCP_DEFER_ACCEPT, which `pushgate` sets on Linux itself).
write_nchan_conf() {
  local dir=$1 port=$2 module=$3 extra=${4:-}
  mkdir -p "$dir/nginx/logs"
  cat >"$dir/nginx/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
worker_rlimit_nofile $(ulimit -Hn);
daemon off;
$extra
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections $(($(ulimit -Hn) - 100)); }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  server {
    listen 127.0.0.1:$port${NCHAN_LISTEN:+ $NCHAN_LISTEN};
    location ~ ^/sub/(\w+)$ { nchan_subscriber websocket; nchan_channel_id \$1; }
    location ~ ^/pub/(\w+)$ { nchan_publisher; nchan_channel_id \$1; }
  }
}
CONF
}
