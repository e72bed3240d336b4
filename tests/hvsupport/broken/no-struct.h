/* A header without the driver structs (the wrong --header). */
#pragma once
struct mp_other {
    int x;
};
