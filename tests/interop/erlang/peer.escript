#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noinput
%%
%% An Erlang/OTP peer for msgframe's interoperability tests (tests/interop_jvm_erlang.rs).
%% Every framing here is gen_tcp's own `{packet, ...}` option; nothing frames bytes by hand except
%% what OTP leaves to the application (`line` and `tpkt` only split incoming bytes: the sender
%% writes the delimiter or the TPKT header itself, and received packets keep them).
%%
%%   escript peer.escript server NAME/CONFIG [NAME/CONFIG ...]
%%       Listens on 127.0.0.1 port 0 once per config, prints `PORT <first port>`, then
%%       `LISTEN <name> <port>` for every config and `READY`. Echoes every packet received. A receive
%%       error other than `closed` is printed as `ERROR <reason> <name>` (e.g. `ERROR emsgsize max2`)
%%       and closes that connection. Runs until killed.
%%
%%   escript peer.escript client NAME/CONFIG/PORT/SIZES [...]
%%       For each job in turn: connects to 127.0.0.1:PORT with the config's options, and for each
%%       size in SIZES (`0:1:100`) sends one message and waits for its echo. Prints one of
%%       `OK <name>`, `FAIL <name> <why>`, `CLOSED <name> <echoes received>`,
%%       `REFUSED <name> <reason>` (gen_tcp:send failed). Then prints `DONE` and exits 0.
%%
%%   escript peer.escript version
%%       Prints `erlang <OTP release> erts <version>`.
%%
%% CONFIG: comma-separated options:
%%   packet=1|2|4|line|tpkt|raw   the {packet, ...} option (default raw)
%%   size=N                       {packet_size, N}: the largest packet body (for lines: the
%%                                delimiter included) accepted
%%   buffer=N                     {buffer, N}: lines longer than the buffer arrive in pieces
%%   delim=C                      {line_delimiter, C} (a byte value, e.g. 59 for `;`)
%%   fixed=N                      raw, but receive exactly N bytes per message (gen_tcp:recv(S, N))
%%   eof                          raw, receive until the peer shuts down its output, then reply
%%                                with everything and close

-mode(compile).

main(["server" | Jobs]) ->
    server(Jobs);
main(["client" | Jobs]) ->
    client(Jobs);
main(["version"]) ->
    io:format("erlang ~s erts ~s~n", [erlang:system_info(otp_release), erlang:system_info(version)]);
main(_) ->
    io:format(standard_error, "usage: peer.escript server NAME/CONFIG... | client NAME/CONFIG/PORT/SIZES... | version~n", []),
    halt(2).

%% ------------------------------------------------------------------ configs

-record(cfg, {packet = raw, size, buffer, delim, fixed, eof = false}).

parse_config(Text) ->
    lists:foldl(fun parse_option/2, #cfg{}, string:lexemes(Text, ",")).

parse_option("eof", C) -> C#cfg{eof = true};
parse_option(Opt, C) ->
    [Key, Value] = string:split(Opt, "="),
    case Key of
        "packet" ->
            P = case Value of
                    "1" -> 1; "2" -> 2; "4" -> 4;
                    "line" -> line; "tpkt" -> tpkt; "raw" -> raw
                end,
            C#cfg{packet = P};
        "size" -> C#cfg{size = list_to_integer(Value)};
        "buffer" -> C#cfg{buffer = list_to_integer(Value)};
        "delim" -> C#cfg{delim = list_to_integer(Value)};
        "fixed" -> C#cfg{fixed = list_to_integer(Value)}
    end.

%% Options for gen_tcp:listen/connect.
socket_opts(C) ->
    [binary, {active, false}, {nodelay, true}, {exit_on_close, false}, {packet, C#cfg.packet}]
        ++ [{packet_size, C#cfg.size} || C#cfg.size =/= undefined]
        ++ [{buffer, C#cfg.buffer} || C#cfg.buffer =/= undefined].

%% Options OTP 25 refuses in gen_tcp:listen, set on each connected socket.
after_opts(S, C) ->
    case C#cfg.delim of
        undefined -> ok;
        D -> ok = inet:setopts(S, [{line_delimiter, D}])
    end.

%% ------------------------------------------------------------------ server

server(Jobs) ->
    Listening = [listen(Job) || Job <- Jobs],
    [{_, FirstPort} | _] = Listening,
    io:format("PORT ~b~n", [FirstPort]),
    [io:format("LISTEN ~s ~b~n", [Name, Port]) || {Name, Port} <- Listening],
    io:format("READY~n"),
    receive stop -> ok end.

listen(Job) ->
    [Name, Text] = string:split(Job, "/"),
    C = parse_config(Text),
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}, {reuseaddr, true} | socket_opts(C)]),
    {ok, Port} = inet:port(L),
    Acceptor = spawn(fun() -> accept_loop(L, Name, C) end),
    ok = gen_tcp:controlling_process(L, Acceptor),
    {Name, Port}.

accept_loop(L, Name, C) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            Handler = spawn(fun() -> receive go -> serve(S, Name, C) end end),
            ok = gen_tcp:controlling_process(S, Handler),
            Handler ! go,
            accept_loop(L, Name, C);
        {error, Reason} ->
            io:format("ERROR accept:~p ~s~n", [Reason, Name])
    end.

serve(S, Name, C) ->
    after_opts(S, C),
    if
        C#cfg.eof -> serve_eof(S, Name, []);
        true -> echo_loop(S, Name, C)
    end.

%% Each packet as gen_tcp delivers it goes back unchanged: for {packet, 1|2|4} send adds the header
%% again; for line and tpkt the delimiter or header is part of the packet; raw bytes go back as
%% they came.
echo_loop(S, Name, C) ->
    Want = case C#cfg.fixed of undefined -> 0; N -> N end,
    case gen_tcp:recv(S, Want) of
        {ok, Packet} ->
            case gen_tcp:send(S, Packet) of
                ok -> echo_loop(S, Name, C);
                {error, Reason} ->
                    io:format("ERROR send:~p ~s~n", [Reason, Name]),
                    gen_tcp:close(S)
            end;
        {error, closed} ->
            gen_tcp:close(S);
        {error, Reason} ->
            io:format("ERROR ~p ~s~n", [Reason, Name]),
            gen_tcp:close(S)
    end.

serve_eof(S, Name, Acc) ->
    case gen_tcp:recv(S, 0) of
        {ok, Bytes} ->
            serve_eof(S, Name, [Acc, Bytes]);
        {error, closed} ->
            ok = gen_tcp:send(S, Acc),
            gen_tcp:close(S);
        {error, Reason} ->
            io:format("ERROR ~p ~s~n", [Reason, Name]),
            gen_tcp:close(S)
    end.

%% ------------------------------------------------------------------ client

body(N) ->
    << <<($a + (I * 7 + N) rem 26)>> || I <- lists:seq(0, N - 1) >>.

client(Jobs) ->
    lists:foreach(fun(Job) -> io:format("~s~n", [run_job(Job)]) end, Jobs),
    io:format("DONE~n"),
    halt(0).

run_job(Job) ->
    [Name, Text, PortText | Rest] = string:split(Job, "/", all),
    C = parse_config(Text),
    Sizes = case Rest of
                [] -> [];
                [SizesText] -> [list_to_integer(T) || T <- string:lexemes(SizesText, ":")]
            end,
    case gen_tcp:connect({127, 0, 0, 1}, list_to_integer(PortText), socket_opts(C), 5000) of
        {ok, S} ->
            after_opts(S, C),
            Result = if
                         C#cfg.eof -> eof_exchange(S, Name, body(hd(Sizes)));
                         true -> exchange(S, Name, C, Sizes, 0)
                     end,
            gen_tcp:close(S),
            Result;
        {error, Reason} ->
            io_lib:format("FAIL ~s connect: ~p", [Name, Reason])
    end.

%% What goes on the wire for a body, and what the echo must be.
wire(C, Body) ->
    case C#cfg.packet of
        line ->
            D = case C#cfg.delim of undefined -> $\n; X -> X end,
            {[Body, D], <<Body/binary, D>>};
        tpkt ->
            Packet = <<3, 0, (byte_size(Body) + 4):16, Body/binary>>,
            {Packet, Packet};
        _ ->
            {Body, Body}
    end.

exchange(_S, Name, _C, [], _Done) ->
    io_lib:format("OK ~s", [Name]);
exchange(S, Name, C, [Size | Sizes], Done) ->
    Body = body(Size),
    {Out, Expected} = wire(C, Body),
    case gen_tcp:send(S, Out) of
        ok ->
            case receive_echo(S, C, byte_size(Expected)) of
                {ok, Expected} ->
                    exchange(S, Name, C, Sizes, Done + 1);
                {ok, Other} ->
                    io_lib:format("FAIL ~s echo #~b differs: ~b bytes, expected ~b",
                                  [Name, Done, byte_size(Other), byte_size(Expected)]);
                {error, Reason} when Reason =:= closed; Reason =:= econnreset ->
                    io_lib:format("CLOSED ~s ~b ~p", [Name, Done, Reason]);
                {error, Reason} ->
                    io_lib:format("FAIL ~s echo #~b: ~p", [Name, Done, Reason])
            end;
        {error, Reason} when Reason =:= closed; Reason =:= econnreset; Reason =:= epipe ->
            io_lib:format("CLOSED ~s ~b ~p", [Name, Done, Reason]);
        {error, Reason} ->
            io_lib:format("REFUSED ~s ~p", [Name, Reason])
    end.

receive_echo(S, C, Len) ->
    Packetized = lists:member(C#cfg.packet, [1, 2, 4, line, tpkt]),
    if
        Packetized -> gen_tcp:recv(S, 0, 10000);
        Len =:= 0 -> {ok, <<>>};
        true -> gen_tcp:recv(S, Len, 10000)
    end.

eof_exchange(S, Name, Body) ->
    ok = gen_tcp:send(S, Body),
    ok = gen_tcp:shutdown(S, write),
    case recv_all(S, []) of
        {ok, Body} -> io_lib:format("OK ~s", [Name]);
        {ok, Other} -> io_lib:format("FAIL ~s reply of ~b bytes, expected ~b",
                                     [Name, byte_size(Other), byte_size(Body)]);
        {error, Reason} -> io_lib:format("FAIL ~s ~p", [Name, Reason])
    end.

recv_all(S, Acc) ->
    case gen_tcp:recv(S, 0, 10000) of
        {ok, Bytes} -> recv_all(S, [Acc, Bytes]);
        {error, closed} -> {ok, iolist_to_binary(Acc)};
        {error, Reason} -> {error, Reason}
    end.
