/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tests' one way of removing a directory they made, with everything in
 * it: depth first, without following symbolic links or crossing into
 * another mount (a tmpfs mounted inside stays, and so does what it holds). */
#ifndef MP_TEST_REMOVE_TREE_H
#define MP_TEST_REMOVE_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int
mp_test_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static inline void
mp_test_remove_tree(const char *dir)
{
    nftw(dir, mp_test_remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

#endif
