"""Humanoid: a 3-D humanoid (41 kg; torso, head, waist, pelvis, thighs, shins with kneecaps, feet, upper and lower
arms, hands) with a free root, on a flat floor (z = 0). World axes: +x is the direction it faces at the start, +y its
left, +z up. Standing upright it is 1.57 m tall: head centre 1.48 m, chest 1.29 m, pelvis 0.87 m, centre of mass
0.85 m. Kneeling upright (knees bent 90 degrees, thighs and back vertical, kneecaps on the floor): head 1.10 m,
chest 0.91 m, pelvis 0.49 m, centre of mass 0.52 m, knees 0.06 m. Every body part (knees, shins, feet, hands,
pelvis, back, head) can rest on the floor; the legs cannot pass through each other.
The action is 21 torque commands in [-1, 1], one per joint, in JOINTS order.
Every field is an array with the batch dimensions first (use `...` indexing, e.g. head_pos[..., 2])."""

# The order of the action and of joint_angles / joint_velocities. Suffixes name the rotation axis: _y bends
# forward/back (pitch), _x sideways (roll), _z twists about the vertical (yaw); shoulder1/2 are two oblique axes.
JOINTS = (
    "abdomen_z", "abdomen_y", "abdomen_x",
    "right_hip_x", "right_hip_z", "right_hip_y", "right_knee", "right_ankle_y", "right_ankle_x",
    "left_hip_x", "left_hip_z", "left_hip_y", "left_knee", "left_ankle_y", "left_ankle_x",
    "right_shoulder1", "right_shoulder2", "right_elbow", "left_shoulder1", "left_shoulder2", "left_elbow",
)


def state_view(qpos, qvel, sensor, xp):
    def on_floor(*parts):  # 1.0 when any of these parts touches the floor, else 0.0
        return xp.minimum(sum(sensor[f"{p}_floor"] for p in parts), 1.0)

    joints = qpos[..., 7:]
    return {
        "head_pos": sensor["head_pos"],  # [..., 3] world position of the head centre (m); z = 1.48 standing
        "torso_pos": sensor["torso_pos"],  # [..., 3] world position of the chest (m); z = 1.29 standing
        "pelvis_pos": sensor["pelvis_pos"],  # [..., 3] pelvis centre (m); z = 0.87 standing, 0.09 seated on the floor
        "left_hand_pos": sensor["left_hand_pos"],  # [..., 3] world position of the left hand (m)
        "right_hand_pos": sensor["right_hand_pos"],  # [..., 3] world position of the right hand (m)
        "left_knee_pos": sensor["left_knee_pos"],  # [..., 3] world position of the left knee (m); z = 0.44 standing
        "right_knee_pos": sensor["right_knee_pos"],  # [..., 3] world position of the right knee (m)
        "left_foot_pos": sensor["left_foot_pos"],  # [..., 3] middle of the left foot (m); z = 0.03 on the floor
        "right_foot_pos": sensor["right_foot_pos"],  # [..., 3] middle of the right foot (m)
        "torso_up": sensor["torso_zaxis"][..., 2],  # z of the torso's up axis: 1 upright, 0 horizontal, -1 upside down
        "torso_forward": sensor["torso_xaxis"],  # [..., 3] world direction the chest faces (unit; (1, 0, 0) at start)
        "pelvis_up": sensor["pelvis_zaxis"][..., 2],  # z of the pelvis's up axis: 1 upright
        "com_pos": sensor["com"],  # [..., 3] world position of the whole-body centre of mass (m); z = 0.85 standing
        "com_velocity": sensor["com_vel"],  # [..., 3] world velocity of the centre of mass (m/s)
        "torso_velocity": sensor["torso_vel"],  # [..., 3] world linear velocity of the chest (m/s)
        "torso_angular_velocity": sensor["torso_angvel"],  # [..., 3] world angular velocity of the torso (rad/s)
        "joint_angles": joints,  # [..., 21] joint angles (rad) in JOINTS order; all 0 in the standing pose
        "joint_velocities": qvel[..., 6:],  # [..., 21] joint angular velocities (rad/s) in JOINTS order
        "left_knee_angle": joints[..., 12],  # rad; 0 straight, negative bent (-1.57 = right angle, min -2.79)
        "right_knee_angle": joints[..., 6],  # rad; 0 straight, negative bent
        "left_hip_flexion": joints[..., 11],  # rad; 0 thigh down, negative thigh forward (-1.57 level), positive back
        "right_hip_flexion": joints[..., 5],  # rad; same convention as left_hip_flexion
        "left_hip_abduction": joints[..., 9],  # rad; 0 leg straight down, negative leg out to the side (min -0.87)
        "right_hip_abduction": joints[..., 3],  # rad; same convention as left_hip_abduction
        "left_elbow_angle": joints[..., 20],  # rad; 0 = relaxed, half bent; range -1.57..0.87
        "right_elbow_angle": joints[..., 17],  # rad; same convention as left_elbow_angle
        # floor contacts: 1.0 while that part touches the floor, else 0.0
        "head_on_floor": on_floor("head"),
        "torso_on_floor": on_floor("torso", "upper_waist", "lower_waist"),  # chest or waist
        "pelvis_on_floor": on_floor("pelvis"),  # pelvis / buttocks
        "left_knee_on_floor": on_floor("left_knee"),  # left kneecap
        "right_knee_on_floor": on_floor("right_knee"),  # right kneecap
        "left_shin_on_floor": on_floor("left_shin"),
        "right_shin_on_floor": on_floor("right_shin"),
        "left_foot_on_floor": on_floor("left_foot_outer", "left_foot_inner"),
        "right_foot_on_floor": on_floor("right_foot_outer", "right_foot_inner"),
        "left_hand_on_floor": on_floor("left_hand"),
        "right_hand_on_floor": on_floor("right_hand"),
    }
