#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noinput
%%
%% An Erlang/OTP echo server for benches/idle_memory.rs: gen_tcp with {packet, 2} (a 2-byte
%% big-endian length, then the body: msgframe's be:2), a process per connection waiting in
%% gen_tcp:recv ({active, false}). Listens on 127.0.0.1 port 0 with a backlog of 128 (as std, mio
%% and tokio listeners), prints `PORT <port>`, echoes every packet, runs until killed.

-mode(compile).

main(_) ->
    {ok, L} = gen_tcp:listen(0, [binary, {ip, {127, 0, 0, 1}}, {packet, 2}, {active, false},
                                 {reuseaddr, true}, {nodelay, true}, {backlog, 128}]),
    {ok, Port} = inet:port(L),
    io:format("PORT ~b~n", [Port]),
    accept_loop(L).

accept_loop(L) ->
    case gen_tcp:accept(L) of
        {ok, S} ->
            Echo = spawn(fun() -> receive go -> echo(S) end end),
            ok = gen_tcp:controlling_process(S, Echo),
            Echo ! go;
        {error, _} ->
            ok
    end,
    accept_loop(L).

echo(S) ->
    case gen_tcp:recv(S, 0) of
        {ok, Packet} ->
            case gen_tcp:send(S, Packet) of
                ok -> echo(S);
                {error, _} -> gen_tcp:close(S)
            end;
        {error, _} ->
            gen_tcp:close(S)
    end.
