/* Per-node timing hooks used by the executors (the profiler itself grows in issue 9).
 * When no profile is passed, executors call nothing here. */
#ifndef ET_PROFILE_H
#define ET_PROFILE_H

#include <stdint.h>
#include "graph.h"

struct et_profile {
    double  *node_ns;    /* per node, accumulated over runs */
    int32_t  n_nodes;
    int64_t  runs;
    double   t0;
};

et_profile *et_profile_new(const et_graph *g);
void        et_profile_free(et_profile *p);
void        et_profile_begin(et_profile *p, const et_graph *g, int32_t node);
void        et_profile_end(et_profile *p, const et_graph *g, int32_t node);

#endif
