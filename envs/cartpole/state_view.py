def state_view(qpos, qvel, sensor, xp):
    """Cart-pole: a cart slides on a rail (x in [-1.9, 1.9] m, centre 0); a 1 m pole hinges on the cart.
    The action is one force command in [-1, 1] pushing the cart along x.
    Every field is an array with the batch dimensions first (use `...` indexing, e.g. tip_pos[..., 2])."""
    pole_angle = qpos[..., 1]
    return {
        "cart_x": qpos[..., 0],  # cart position along the rail (m); 0 = centre, walls at +-1.9
        "cart_velocity": qvel[..., 0],  # cart velocity along the rail (m/s)
        "pole_angle": xp.arctan2(xp.sin(pole_angle), xp.cos(pole_angle)),  # rad, 0 = upright, +-pi = hanging down
        "pole_angular_velocity": qvel[..., 1],  # rad/s
        "pole_upright": xp.cos(pole_angle),  # cosine of the pole angle: 1 upright, -1 hanging down
        "tip_pos": sensor["tip_pos"],  # [..., 3] world position of the pole tip (m); z = 2 upright, 0 hanging (rail at z = 1)
    }
