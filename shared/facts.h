/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names of the journal facts that more than one module reads or writes.
 * A fact is a key=value line of a journal record (docs/journal-format.md);
 * the writer and every reader use these constants, so a renamed fact cannot
 * leave one of them behind. Facts private to a driver are named in that
 * driver's internal header. */
#pragma once

/* Written by the engine. */
#define MP_FACT_STREAM           "stream"        /* Perform: the stream's fate */
#define MP_FACT_STREAM_COMPLETED "completed"     /* ... value: it completed */
#define MP_FACT_UNDO             "undo"          /* Finish, Confirm: "yes" undid, "no" completed */
#define MP_FACT_UNCHANGED_SUM    "unchanged-sum" /* sum of what no later cookie may change */
#define MP_FACT_SOURCE_HOST      "source-host"   /* the hosts of the migration, as */
#define MP_FACT_DESTINATION_HOST "destination-host" /* their signed cookies named them */
#define MP_FACT_POSTCOPY         "postcopy"         /* Perform: the stream switched to postcopy */
#define MP_FACT_POSTCOPY_STARTED "started"          /* ... value: the source must never run */
#define MP_FACT_YES              "yes"
#define MP_FACT_NO               "no"

/* Written by the libvirt hook: the migration is libvirt's, not a helper's. */
#define MP_FACT_MANAGER         "manager"
#define MP_FACT_MANAGER_LIBVIRT "libvirt"

/* Written by a driver that copies storage, read by migphase-status. */
#define MP_FACT_STORAGE_IMAGE   "image"   /* Prepare: image.N, a target image it creates */
#define MP_FACT_STORAGE_EXPORT  "nbd"     /* Prepare: the new VM exports the target images */
#define MP_FACT_STORAGE_MIRRORS "mirrors" /* Perform: the disks it mirrors, by name */
