#!/usr/bin/env perl
# A WebSocket echo service written in Perl with core modules only (no install step).
#
# It exists to show that pytest-wsservice can start and test a service written in any
# language, as long as the service reads the same userver-layout static config as the
# bundled sample service. See docs/other-services.md.
#
#   perl echo_service.pl --config static_config.yaml
#
# It is an example, not a product: one process, one IO::Select loop, blocking writes.
use strict;
use warnings;

use CPAN::Meta::YAML;
use Digest::SHA qw(sha1);
use File::Basename qw(dirname);
use File::Spec;
use Getopt::Long qw(GetOptions);
use IO::Select;
use IO::Socket::IP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);
use Socket qw(AF_UNIX SOCK_DGRAM pack_sockaddr_un);
use Time::HiRes qw(time);

# RFC 6455, 1.3: the server proves that it read the client's key by hashing it with this GUID.
my $WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
my %LEVELS = (trace => 0, debug => 1, info => 2, warning => 3, error => 4, critical => 5);

# ---- static config ---------------------------------------------------------------------

# Like the sample service: a bad config is exit status 2 and one line naming file and key.
sub fail_config { print STDERR "echo_service.pl: $_[0]\n"; exit 2 }

my $config_path;
GetOptions('config|c=s' => \$config_path) && defined $config_path
    or fail_config('usage: perl echo_service.pl --config PATH');
# CPAN::Meta::YAML reads block-style YAML (what PyYAML's safe_dump writes); it dies or
# returns false on what it cannot read, such as flow style `{port: 8080}`.
my $yaml = eval { CPAN::Meta::YAML->read($config_path) };
fail_config("$config_path: cannot read the static config: " . ($@ || CPAN::Meta::YAML->errstr) =~ s/ at \S+ line \d+\.?\s*$//r)
    unless $yaml && ref $yaml->[0] eq 'HASH';

# Returns the value at a dotted key path, or $default (if given) when a key is missing.
sub lookup {
    my ($path, $default) = @_;
    my $node = $yaml->[0];
    for my $key (split /\./, $path) {
        if (ref $node ne 'HASH' || !defined $node->{$key}) {
            return $default if @_ > 1;
            fail_config("$config_path: missing key $path");
        }
        $node = $node->{$key};
    }
    return $node;
}

my $C = 'components_manager.components';
my $port = lookup("$C.server.listener.port");
$port =~ /^\d+$/ or fail_config("$config_path: $C.server.listener.port must be an integer, not '$port'");
my $host = lookup("$C.server.listener.host", '127.0.0.1');
my $ping_path = lookup("$C.handler-ping.path", undef);    # optional, as for the plugin
my $chat_path = lookup("$C.websocket-handler.path");
my $max_payload = lookup("$C.websocket-handler.max-remote-payload", 100_000);
my $log_target = lookup("$C.logging.loggers.default.file_path", '@stderr');
my $min_level = $LEVELS{lc lookup("$C.logging.loggers.default.level", 'info')}
    // fail_config("$config_path: $C.logging.loggers.default.level must be one of " . join(' ', sort keys %LEVELS));

# ---- logging: the same line format as the sample service ---------------------------------

my $log_fh;    # undef for @null
if ($log_target eq '@stderr') { $log_fh = \*STDERR }
elsif ($log_target eq '@stdout') { $log_fh = \*STDOUT }
elsif ($log_target ne '@null') {
    # The plugin patches an absolute path in; a relative one is relative to the config file.
    my $file = File::Spec->rel2abs($log_target, dirname(File::Spec->rel2abs($config_path)));
    open($log_fh, '>>', $file) or fail_config("$config_path: cannot open log file $file: $!");
}
$log_fh->autoflush(1) if $log_fh;

sub log_line {
    my ($level, $message, $always) = @_;
    return unless $log_fh && ($always || $LEVELS{$level} >= $min_level);
    my $now = time;
    printf {$log_fh} "%s.%03d %s perl_echo: %s\n",
        strftime('%Y-%m-%d %H:%M:%S', localtime $now), ($now - int $now) * 1000, uc $level, $message;
}

# ---- connections ------------------------------------------------------------------------

my $select = IO::Select->new;
my %conns;    # id => {id, sock, peer, buf, ws, msg_op, msg}

# Writes everything. Blocking: a client that stops reading stalls the loop; fine for an example.
sub send_all {
    my ($conn, $data) = @_;
    while (length $data) {
        my $n = syswrite($conn->{sock}, $data);
        return 0 unless defined $n;    # the peer is gone (SIGPIPE is ignored below)
        substr($data, 0, $n, '');
    }
    return 1;
}

sub drop {
    my ($conn) = @_;
    return unless delete $conns{$conn->{id}};
    $select->remove($conn->{sock});
    close $conn->{sock};
    log_line('info', "connection closed peer=$conn->{peer} code=" . ($conn->{close_code} // 'none')) if $conn->{ws};
}

# Server frames are never masked and never fragmented here (RFC 6455, 5.1-5.2).
sub send_frame {
    my ($conn, $opcode, $payload) = @_;
    my $len = length $payload;
    my $header = pack('C', 0x80 | $opcode)
        . ($len < 126 ? pack('C', $len) : $len < 65536 ? pack('Cn', 126, $len) : pack('CQ>', 127, $len));
    return send_all($conn, $header . $payload);
}

# Sends a close frame (with $code, or empty like the client's) and hangs up: the server
# closes the TCP connection first, as RFC 6455 7.1.1 asks.
sub close_ws {
    my ($conn, $code) = @_;
    $conn->{close_code} = $code;
    send_frame($conn, 0x8, defined $code ? pack('n', $code) : '');
    drop($conn);
}

sub respond {
    my ($conn, $status, $body, $extra) = @_;
    send_all($conn, "HTTP/1.1 $status\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
        . "\r\n" . ($extra // '') . "Connection: close\r\n\r\n$body");
    drop($conn);
}

sub handle_http {
    my ($conn) = @_;
    my $end = index($conn->{buf}, "\r\n\r\n");
    if ($end < 0) {    # headers not complete yet; refuse to buffer without bound
        respond($conn, '431 Request Header Fields Too Large', "Headers too large\n") if length $conn->{buf} > 16384;
        return;
    }
    my ($request_line, @header_lines) = split /\r\n/, substr($conn->{buf}, 0, $end);
    substr($conn->{buf}, 0, $end + 4, '');    # what follows may already be WebSocket frames
    my ($method, $target) = split / /, $request_line // '';
    my %headers = map { /^([^:]+):\s*(.*?)\s*$/ ? (lc $1 => $2) : () } @header_lines;
    (my $path = $target // '') =~ s/\?.*//s;

    return respond($conn, '200 OK', "OK\n") if defined $ping_path && $path eq $ping_path && ($method // '') eq 'GET';
    return respond($conn, '404 Not Found', "Not found\n") if $path ne $chat_path;
    return respond($conn, '400 Bad Request', 'Not a websocket request')
        if lc($headers{upgrade} // '') ne 'websocket' || !$headers{'sec-websocket-key'};
    return respond($conn, '426 Upgrade Required', "Unsupported WebSocket version\n", "Sec-WebSocket-Version: 13\r\n")
        if ($headers{'sec-websocket-version'} // '') ne '13';

    my $accept = encode_base64(sha1($headers{'sec-websocket-key'} . $WS_GUID), '');
    send_all($conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Accept: $accept\r\n\r\n") or return drop($conn);
    $conn->{ws} = 1;
    log_line('info', "connection opened peer=$conn->{peer} path=$target");
    handle_frames($conn);
}

# Parses every complete frame in the buffer; a partial frame waits for the next read.
sub handle_frames {
    my ($conn) = @_;
    while (length($conn->{buf}) >= 2) {
        my ($b0, $b1) = unpack 'CC', $conn->{buf};
        my ($fin, $opcode, $len, $offset) = ($b0 & 0x80, $b0 & 0x0f, $b1 & 0x7f, 2);
        if ($len == 126) { return if length $conn->{buf} < 4;  ($len, $offset) = (unpack('x2 n', $conn->{buf}), 4) }
        if ($len == 127) { return if length $conn->{buf} < 10; ($len, $offset) = (unpack('x2 Q>', $conn->{buf}), 10) }
        # Clients must mask every frame and set no reserved bits; control frames are short and whole.
        return close_ws($conn, 1002) if !($b1 & 0x80) || ($b0 & 0x70) || ($opcode >= 8 && (!$fin || $len > 125));
        return close_ws($conn, 1009) if $len > $max_payload;    # before buffering a huge frame
        return if length($conn->{buf}) < $offset + 4 + $len;
        my $mask = substr($conn->{buf}, $offset, 4);
        my $payload = substr($conn->{buf}, $offset + 4, $len);
        substr($conn->{buf}, 0, $offset + 4 + $len, '');
        # Both operands are byte strings, so ^ is a bytewise string XOR.
        $payload ^= substr($mask x (int($len / 4) + 1), 0, $len);

        if ($opcode == 0x8) { return close_ws($conn, $len >= 2 ? unpack('n', $payload) : undef) }    # echo the code
        if ($opcode == 0x9) { send_frame($conn, 0xA, $payload) or return drop($conn); next }    # also mid-message
        next if $opcode == 0xA;    # an unsolicited pong needs no answer
        if ($opcode == 0x1 || $opcode == 0x2) {
            return close_ws($conn, 1002) if defined $conn->{msg_op};    # a new message inside a fragmented one
            @$conn{qw(msg_op msg)} = ($opcode, '');
        }
        elsif ($opcode != 0x0 || !defined $conn->{msg_op}) {
            return close_ws($conn, 1002);    # unknown opcode, or a continuation of nothing
        }
        $conn->{msg} .= $payload;
        return close_ws($conn, 1009) if length $conn->{msg} > $max_payload;
        next unless $fin;
        # A fragmented message is echoed once, whole, with the type of its first frame.
        my ($op, $msg) = delete @$conn{qw(msg_op msg)};
        return close_ws($conn, 1007) if $op == 0x1 && !utf8::decode(my $copy = $msg);
        send_frame($conn, $op, $msg) or return drop($conn);
    }
}

# ---- main loop --------------------------------------------------------------------------

$SIG{PIPE} = 'IGNORE';    # a vanished client must not kill the service; syswrite fails instead
my $stopping = 0;
$SIG{TERM} = $SIG{INT} = sub { $stopping = 1 };

my $listener = IO::Socket::IP->new(LocalHost => $host, LocalPort => $port, Listen => 128, ReuseAddr => 1)
    or do { log_line('critical', "cannot listen on $host:$port: " . ($@ || $!), 1); exit 1 };
$select->add($listener);
my $url_host = $host =~ /:/ ? "[$host]" : $host;
log_line('info', 'listening on http://' . $url_host . ':' . $listener->sockport, 1);

# sd_notify protocol: one datagram READY=1; a leading '@' names the Linux abstract namespace.
if (my $notify = $ENV{NOTIFY_SOCKET}) {
    (my $address = $notify) =~ s/^@/\0/;
    my $sd;
    socket($sd, AF_UNIX, SOCK_DGRAM, 0) && send($sd, 'READY=1', 0, pack_sockaddr_un($address))
        or log_line('warning', "cannot notify $notify: $!");
}

until ($stopping) {
    # The timeout bounds how late a SIGTERM that lands just before select() is noticed.
    for my $sock ($select->can_read(0.5)) {
        if ($sock == $listener) {
            my $client = $listener->accept or next;
            my $id = fileno $client;
            $conns{$id} = {id => $id, sock => $client, buf => '', peer => $client->peerhost . ':' . $client->peerport};
            $select->add($client);
            next;
        }
        my $conn = $conns{fileno $sock} or next;
        my $n = sysread($sock, $conn->{buf}, 65536, length $conn->{buf});
        if (!$n) { drop($conn); next }    # EOF or error: the peer left without a close frame
        $conn->{ws} ? handle_frames($conn) : handle_http($conn);
    }
}

# SIGTERM/SIGINT: stop accepting, say goodbye to WebSocket clients with 1001, exit 0.
log_line('info', 'stopping');
$listener->close;
for my $conn (values %conns) { $conn->{ws} ? close_ws($conn, 1001) : drop($conn) }
exit 0;
