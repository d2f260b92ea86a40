/* `edgetune devices`: the compute devices this machine offers — always the CPU, plus every
 * Vulkan device with the features the shaders care about.  Without a Vulkan driver it says so
 * and lists the CPU alone (exit status 0: that is a valid configuration, not an error). */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "kernels.h"
#include "engine/vulkan/vk.h"

int et_cmd_devices(int argc, char **argv) {
    if (argc > 1) {
        if (strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
            fprintf(stderr, "edgetune devices: unexpected argument '%s'\n", argv[1]);
            return 2;
        }
        printf("usage: edgetune devices\n  Lists cpu and vulkan:N devices (choose one with "
               "EDGETUNE_VK_DEVICE=N).\n  EDGETUNE_VK_LIMITS=mobile shows nothing different "
               "here: it clamps limits when a device is opened.\n");
        return 0;
    }
    printf("cpu  kernel path %s (best on this CPU: %s)\n", et_isa_name(et_kern_isa()),
           et_isa_name(et_kern_isa_best()));
    char why[256];
    if (!et_vk_available(why, sizeof why)) {
        printf("vulkan: none (%s)\n", why);
        return 0;
    }
    return et_vk_print_devices(stdout) < 0 ? 1 : 0;
}
