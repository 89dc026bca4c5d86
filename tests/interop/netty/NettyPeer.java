// A Netty peer for msgframe's interoperability tests (tests/interop_jvm_erlang.rs).
//
// Every pipeline is built from Netty's own framing handlers (LengthFieldBasedFrameDecoder,
// LengthFieldPrepender, LineBasedFrameDecoder, DelimiterBasedFrameDecoder, FixedLengthFrameDecoder)
// and an echo handler; nothing here frames bytes by hand, except a delimiter written after each
// reply (Netty has no delimiter encoder).
//
//   java NettyPeer server NAME/PIPELINE [NAME/PIPELINE ...]
//       Binds 127.0.0.1 port 0 once per pipeline, prints `PORT <first port>`, then
//       `LISTEN <name> <port>` for every pipeline and `READY`. Echoes every decoded frame with the
//       same pipeline. A decoder exception is printed as `ERROR <ExceptionClass> <name> <message>`
//       and closes that connection. Runs until killed.
//
//   java NettyPeer client NAME/PIPELINE/PORT/SIZES [...]
//       For each job in turn: connects to 127.0.0.1:PORT, sends messages of the given sizes
//       (`0:1:100`) through the pipeline, checks the echoes, and prints one of
//       `OK <name>`, `FAIL <name> <why>`, `CLOSED <name> <echoes received> [reset]` (the peer closed
//       or reset the connection before all echoes came), `REFUSED <name> <ExceptionClass> <message>`
//       (Netty refused to encode a message). Then prints `DONE` and exits 0.
//
//   java NettyPeer version
//       Prints `netty <version> java <version>`.
//
// PIPELINE is a kind and comma-separated options:
//   lf,len=N[,order=be|le][,offset=K][,max=M][,adj=A][,strip=S][,plen=L][,padj=P][,incl]
//       LengthFieldBasedFrameDecoder(order, max, K, N, adj, strip, failFast) and, when strip is the
//       whole header K + N (the default), LengthFieldPrepender(order, L (default N), padj, incl).
//       When strip is shorter, frames are echoed as decoded (header bytes included), unframed again.
//       max is Netty's maxFrameLength: the whole frame, header included (default Integer.MAX_VALUE).
//       TPKT (03 00, then a 2-byte length counting the 4-byte header): the decoder reads the length
//       at offset 2; LengthFieldPrepender cannot write bytes before its field, so it writes a 4-byte
//       field with lengthAdjustment 0x03000000 (plen=4,padj=50331648,incl): 03 00 LL LL.
//   line[,max=M][,eol=lf|crlf]   LineBasedFrameDecoder(max, strip, failFast); replies end with eol.
//   delim,hex=HEX[,max=M]        DelimiterBasedFrameDecoder(max, strip, failFast, HEX); replies end with HEX.
//   fixed,len=N                  FixedLengthFrameDecoder(N); replies unframed.
//   eof                          read until the input is shut down, reply with everything, close.

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.DelimiterBasedFrameDecoder;
import io.netty.handler.codec.FixedLengthFrameDecoder;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.codec.MessageToByteEncoder;

import java.net.InetSocketAddress;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

public final class NettyPeer {
    private static final int DEFAULT_MAX = 8 * 1024 * 1024;

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** A pipeline description: a kind and options. */
    static final class Pipeline {
        final String kind;
        final Map<String, String> opts = new HashMap<>();

        Pipeline(String text) {
            String[] parts = text.split(",");
            kind = parts[0];
            for (int i = 1; i < parts.length; i++) {
                int eq = parts[i].indexOf('=');
                if (eq < 0) {
                    opts.put(parts[i], "");
                } else {
                    opts.put(parts[i].substring(0, eq), parts[i].substring(eq + 1));
                }
            }
            if (!Arrays.asList("lf", "line", "delim", "fixed", "eof").contains(kind)) {
                throw new IllegalArgumentException("unknown pipeline kind " + kind);
            }
        }

        int num(String key, int dflt) {
            String v = opts.get(key);
            return v == null ? dflt : Integer.parseInt(v);
        }

        byte[] hex(String key) {
            String v = opts.getOrDefault(key, "");
            byte[] out = new byte[v.length() / 2];
            for (int i = 0; i < out.length; i++) {
                out[i] = (byte) Integer.parseInt(v.substring(2 * i, 2 * i + 2), 16);
            }
            return out;
        }

        ByteOrder order() {
            return "le".equals(opts.get("order")) ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN;
        }

        int headerLen() {
            return num("offset", 0) + num("len", 0);
        }

        /** Whether replies go through encoders (otherwise decoded frames are written back as they are). */
        boolean reframes() {
            switch (kind) {
                case "lf":
                    return num("strip", headerLen()) == headerLen();
                case "line":
                case "delim":
                    return true;
                default:
                    return false;
            }
        }

        /** Adds the framing handlers, then `app`. */
        void install(ChannelPipeline p, ChannelHandler app) {
            switch (kind) {
                case "lf": {
                    int len = num("len", 0);
                    if (reframes()) {
                        p.addLast("prepender", new LengthFieldPrepender(order(), num("plen", len),
                                num("padj", 0), opts.containsKey("incl")));
                    }
                    p.addLast("decoder", new LengthFieldBasedFrameDecoder(order(),
                            num("max", Integer.MAX_VALUE), num("offset", 0), len, num("adj", 0),
                            num("strip", headerLen()), true));
                    break;
                }
                case "line":
                    p.addLast("suffix", new SuffixEncoder(
                            "crlf".equals(opts.get("eol")) ? new byte[] {'\r', '\n'} : new byte[] {'\n'}));
                    p.addLast("decoder", new LineBasedFrameDecoder(num("max", DEFAULT_MAX), true, true));
                    break;
                case "delim":
                    p.addLast("suffix", new SuffixEncoder(hex("hex")));
                    p.addLast("decoder", new DelimiterBasedFrameDecoder(num("max", DEFAULT_MAX), true, true,
                            Unpooled.wrappedBuffer(hex("hex"))));
                    break;
                case "fixed":
                    p.addLast("decoder", new FixedLengthFrameDecoder(num("len", 0)));
                    break;
                default: // eof: no framing handler at all
                    break;
            }
            p.addLast("app", app);
        }
    }

    /** Writes a delimiter after every outgoing frame. */
    static final class SuffixEncoder extends MessageToByteEncoder<ByteBuf> {
        private final byte[] suffix;

        SuffixEncoder(byte[] suffix) {
            this.suffix = suffix;
        }

        @Override
        protected void encode(ChannelHandlerContext ctx, ByteBuf msg, ByteBuf out) {
            out.writeBytes(msg);
            out.writeBytes(suffix);
        }
    }

    /** `ExceptionClass message`, on one line; exceptions thrown by encoders arrive wrapped, so the cause too. */
    static String describe(Throwable t) {
        Throwable c = t.getCause();
        String cause = c != null && c != t
                ? " (cause: " + c.getClass().getSimpleName() + ": " + c.getMessage() + ")"
                : "";
        return (t.getClass().getSimpleName() + " " + t.getMessage() + cause).replace('\n', ' ');
    }

    // ---------------------------------------------------------------- server

    /** Echoes each decoded frame. */
    static final class Echo extends ChannelInboundHandlerAdapter {
        private final String name;

        Echo(String name) {
            this.name = name;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ctx.writeAndFlush(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                // The client is done (half-closure is allowed for the eof pipeline's sake): close
                // once the echoes already written are out.
                ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            say("ERROR " + cause.getClass().getSimpleName() + " " + name + " "
                    + String.valueOf(cause.getMessage()).replace('\n', ' '));
            ctx.close();
        }
    }

    /** Collects everything until the peer shuts down its output, then replies with it and closes. */
    static final class EofEcho extends ChannelInboundHandlerAdapter {
        private final String name;
        private ByteBuf collected;

        EofEcho(String name) {
            this.name = name;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            collected = ctx.alloc().buffer();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            collected.writeBytes(buf);
            buf.release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ByteBuf reply = collected;
                collected = null;
                ctx.writeAndFlush(reply).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (collected != null) {
                collected.release();
                collected = null;
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            say("ERROR " + cause.getClass().getSimpleName() + " " + name + " " + cause.getMessage());
            ctx.close();
        }
    }

    static void server(String[] jobs) throws Exception {
        EventLoopGroup group = new NioEventLoopGroup(1);
        List<String> listening = new ArrayList<>();
        int first = -1;
        for (String job : jobs) {
            int slash = job.indexOf('/');
            final String name = job.substring(0, slash);
            final Pipeline pipeline = new Pipeline(job.substring(slash + 1));
            ServerBootstrap b = new ServerBootstrap()
                    .group(group)
                    .channel(NioServerSocketChannel.class)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            pipeline.install(ch.pipeline(),
                                    "eof".equals(pipeline.kind) ? new EofEcho(name) : new Echo(name));
                        }
                    });
            Channel ch = b.bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
            int port = ((InetSocketAddress) ch.localAddress()).getPort();
            if (first < 0) {
                first = port;
            }
            listening.add("LISTEN " + name + " " + port);
        }
        say("PORT " + first);
        for (String line : listening) {
            say(line);
        }
        say("READY");
        Thread.currentThread().join(); // until killed
    }

    // ---------------------------------------------------------------- client

    static byte[] body(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) ('a' + (i * 7 + n) % 26);
        }
        return b;
    }

    /** Sends the job's messages when connected and checks the echoes; completes `result` with one line. */
    static final class Client extends ChannelInboundHandlerAdapter {
        final String name;
        final boolean eof;
        final List<byte[]> sent = new ArrayList<>();
        final CompletableFuture<String> result = new CompletableFuture<>();
        int received;
        ByteBuf collected;

        Client(String name, boolean eof, int[] sizes) {
            this.name = name;
            this.eof = eof;
            for (int n : sizes) {
                sent.add(body(n));
            }
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            collected = ctx.alloc().buffer();
            for (byte[] b : sent) {
                ctx.writeAndFlush(Unpooled.wrappedBuffer(b)).addListener(f -> {
                    if (!f.isSuccess()) {
                        result.complete("REFUSED " + name + " " + describe(f.cause()));
                        ctx.close();
                    }
                });
            }
            if (eof) {
                ctx.channel().eventLoop().execute(() -> ((SocketChannel) ctx.channel()).shutdownOutput());
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            try {
                if (eof) {
                    collected.writeBytes(buf);
                    return;
                }
                byte[] got = ByteBufUtil.getBytes(buf);
                if (received >= sent.size()) {
                    result.complete("FAIL " + name + " an extra echo of " + got.length + " bytes");
                } else if (!Arrays.equals(got, sent.get(received))) {
                    result.complete("FAIL " + name + " echo #" + received + " differs: " + got.length
                            + " bytes, expected " + sent.get(received).length);
                }
                received++;
                if (received == sent.size()) {
                    result.complete("OK " + name);
                    ctx.close();
                }
            } finally {
                buf.release();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!eof && evt instanceof ChannelInputShutdownEvent) {
                // The server closed its side before all echoes came.
                result.complete("CLOSED " + name + " " + received);
                ctx.close();
            } else if (eof && evt instanceof ChannelInputShutdownEvent) {
                byte[] got = ByteBufUtil.getBytes(collected);
                if (Arrays.equals(got, sent.get(0))) {
                    result.complete("OK " + name);
                } else {
                    result.complete("FAIL " + name + " reply of " + got.length + " bytes, expected "
                            + sent.get(0).length);
                }
                ctx.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            result.complete("CLOSED " + name + " " + received);
            if (collected != null) {
                collected.release();
                collected = null;
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof java.io.IOException) {
                // A reset: the server closed the connection.
                result.complete("CLOSED " + name + " " + received + " " + describe(cause));
            } else {
                result.complete("FAIL " + name + " " + describe(cause));
            }
            ctx.close();
        }
    }

    static void client(String[] jobs) throws Exception {
        EventLoopGroup group = new NioEventLoopGroup(1);
        try {
            for (String job : jobs) {
                String[] parts = job.split("/");
                final String name = parts[0];
                final Pipeline pipeline = new Pipeline(parts[1]);
                int port = Integer.parseInt(parts[2]);
                int[] sizes = parts.length > 3 && !parts[3].isEmpty()
                        ? Arrays.stream(parts[3].split(":")).mapToInt(Integer::parseInt).toArray()
                        : new int[0];
                final Client handler = new Client(name, "eof".equals(pipeline.kind), sizes);
                Bootstrap b = new Bootstrap()
                        .group(group)
                        .channel(NioSocketChannel.class)
                        .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                        .option(ChannelOption.TCP_NODELAY, true)
                        .handler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                pipeline.install(ch.pipeline(), handler);
                            }
                        });
                String line;
                try {
                    Channel ch = b.connect(new InetSocketAddress("127.0.0.1", port)).sync().channel();
                    try {
                        line = handler.result.get(10, TimeUnit.SECONDS);
                    } catch (TimeoutException e) {
                        line = "FAIL " + name + " timed out after 10 s with " + handler.received + " echoes";
                    }
                    ch.close().sync();
                } catch (Exception e) {
                    line = "FAIL " + name + " " + describe(e);
                }
                say(line);
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        say("DONE");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: NettyPeer server NAME/PIPELINE... | client NAME/PIPELINE/PORT/SIZES... | version");
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        switch (args[0]) {
            case "server":
                server(rest);
                break;
            case "client":
                client(rest);
                break;
            case "version":
                Package p = LengthFieldBasedFrameDecoder.class.getPackage();
                say("netty " + p.getImplementationVersion() + " java " + System.getProperty("java.version"));
                break;
            default:
                System.err.println("unknown mode " + args[0]);
                System.exit(2);
        }
    }
}
