// pair_style equipot (see pair_equipot.h for the syntax).
//
// Graph construction, per step and per rank:
//  * Nodes: first the owned atoms of our types (they alone contribute energy, so they
//    are the core's n_owned), then ghost atoms as message carriers.
//  * A ghost atom whose atom ID is owned by this rank is a periodic image of an owned
//    atom: it is not a node of its own, edges to it point at its owner (with the image's
//    edge vector). That is how the core's periodic neighbor list works too, so on one
//    rank the graph is the same as `Model::evaluate_structure` builds, with no ghost
//    nodes at all (and no need for a ghost shell wider than cutoff + skin).
//  * Other ghost atoms (owned by another rank) become nodes when they are within
//    num_layers hops (edges shorter than the cutoff) of an owned atom, found by a
//    breadth-first search; edges are taken around every node closer than num_layers
//    hops. Several ghost images of one such atom (periodic images of another rank's
//    atom) are one node, whose edges come from the image nearest in hops. With L
//    layers the energy of an owned atom depends exactly on those nodes and edges, so
//    the sum of owned energies over the ranks is the serial energy. This needs ghost
//    atoms out to L * cutoff (+ skin): the communication cutoff is raised to that in
//    init_style (an error if the user's own comm_modify cutoff is smaller).
//  * Forces on ghost nodes are added to f of the ghost atoms; LAMMPS's reverse
//    communication (newton pair on) sums them onto their owners. The global virial is
//    -sum_e r_e (x) dE/dr_e over this rank's edges (its energy is a function of its edge
//    vectors, so the rank virials add up to the total); per-atom virials are each edge's
//    virial split half/half between its two atoms, which is also the centroid form.
#include "pair_equipot.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include "equipot/errors.h"
#include "equipot/elements.h"
#include "equipot/memory_pool.h"
#include "equipot/model.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

using namespace LAMMPS_NS;

namespace {

// LAMMPS orders virials xx yy zz xy xz yz (global, vatom) and, for the centroid form,
// xx yy zz xy xz yz yx zx zy (cvatom); the core's are row-major 3x3, so component c
// of LAMMPS's order is element kVirialComponent[c] of the core's.
constexpr int kVirialComponent[9] = {0, 4, 8, 1, 2, 5, 3, 6, 7};

// Ranks of the LAMMPS communicator that share this node, and this rank's place among them.
void node_local_rank(MPI_Comm world, int me, int &local_rank, int &local_size)
{
  MPI_Comm node;
  MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, me, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank);
  MPI_Comm_size(node, &local_size);
  MPI_Comm_free(&node);
}

}    // namespace

PairEquipot::PairEquipot(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  // The virial comes from the edge gradients (exact per rank), never from f . r, which
  // would need unwrapped ghost positions of every image.
  no_virial_fdotr_compute = 1;
  // Per-atom centroid virials are the half/half split of each edge's virial; stored
  // with all nine components, so compute centroid/stress/atom gets them as they are.
  centroidstressflag = CENTROID_AVAIL;
  // Set here so that pair_style hybrid/overlay (which reads it in its settings) knows
  // that a sub-style needs neighbor lists of ghost atoms.
  ghostneigh = 1;
}

PairEquipot::~PairEquipot()
{
  if (copymode) return;
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairEquipot::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      setflag[i][j] = 0;
      cutsq[i][j] = cutghost[i][j] = 0.0;
    }
}

/* ---------------------------------------------------------------------- */

void PairEquipot::settings(int narg, char **arg)
{
  std::string requested = "cpu";
  int iarg = 0;
  while (iarg < narg) {
    if (strcmp(arg[iarg], "device") == 0) {
      if (iarg + 1 >= narg)
        error->all(FLERR, "pair_style equipot: 'device' needs a value (cpu, cuda or cuda:N)");
      requested = arg[iarg + 1];
      iarg += 2;
    } else {
      error->all(FLERR,
                 "pair_style equipot: unknown keyword '{}' (usage: pair_style equipot "
                 "[device cpu|cuda|cuda:N])",
                 arg[iarg]);
    }
  }
  const std::string device = resolve_device(requested);
  limit_torch_threads();
  // The memory pool is per process, so say so once per process, not per instance
  // (pair_style re-issued, or several LAMMPS instances in one Python process).
  static std::atomic<bool> pool_note_printed{false};
  if (equipot::memory_pool_enabled() && comm->me == 0 && !pool_note_printed.exchange(true)) {
    utils::logmesg(lmp, "pair_style equipot: an evaluation's large tensors are reused by the next (a pool "
                        "bounded by one evaluation's working set; EQUIPOT_MEMORY_POOL=0 to disable)\n");
  }
  requested_device_ = requested;
  if (device != device_) {
    device_ = device;
    // pair_style re-issued with another device keeps its coefficients: move the model.
    if (model_) {
      try {
        model_ = std::make_unique<equipot::Model>(model_path_, device_);
      } catch (const std::exception &e) {
        error->all(FLERR, std::string("pair_style equipot: ") + e.what());
      }
    }
  }
}

std::string PairEquipot::resolve_device(const std::string &requested)
{
  if (requested == "cpu") return requested;
  if (requested.rfind("cuda", 0) != 0)
    error->all(FLERR, "pair_style equipot: unknown device '{}' (use cpu, cuda or cuda:N)", requested);
  const int num_gpus = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (num_gpus == 0)
    error->all(FLERR,
               "pair_style equipot: device '{}' requested but the libtorch that equipot uses has "
               "no usable CUDA device (CPU-only torch, or no GPU visible to this process)",
               requested);
  if (requested != "cuda") return requested;    // cuda:N, checked by the core when loading
  // One GPU per rank of each node: rank k of a node uses cuda:k.
  int local_rank = 0, local_size = 1;
  node_local_rank(world, comm->me, local_rank, local_size);
  int too_many = (local_size > num_gpus) ? 1 : 0, any_too_many = 0;
  MPI_Allreduce(&too_many, &any_too_many, 1, MPI_INT, MPI_MAX, world);
  if (any_too_many)
    error->all(FLERR,
               "pair_style equipot device cuda: a node runs more MPI ranks ({} here) than it has "
               "visible GPUs ({} here); device cuda uses one GPU per rank, so start at most one "
               "rank per GPU (or name a device with cuda:N)",
               local_size, num_gpus);
  return "cuda:" + std::to_string(local_rank);
}

// libtorch starts one intra-op thread per core in every process; when several MPI ranks
// share a node and the user has not set OMP_NUM_THREADS, they would oversubscribe the
// cores, so each rank gets its share of them.
void PairEquipot::limit_torch_threads()
{
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  int local_rank = 0, local_size = 1;
  node_local_rank(world, comm->me, local_rank, local_size);
  if (local_size <= 1) return;
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int share = std::max(1, cores / local_size);
  if (at::get_num_threads() > share) {
    at::set_num_threads(share);
    if (comm->me == 0)
      utils::logmesg(lmp,
                     "pair_style equipot: {} ranks share a node and OMP_NUM_THREADS is not set: "
                     "using {} torch thread(s) per rank\n",
                     local_size, share);
  }
}

void PairEquipot::check_units()
{
  const std::string units = update->unit_style;
  if (units == "metal") {
    energy_factor_ = 1.0;
  } else if (units == "real") {
    energy_factor_ = utils::get_conversion_factor(utils::ENERGY, utils::METAL2REAL);
  } else {
    error->all(FLERR,
               "pair_style equipot supports 'units metal' (eV and Angstrom, the model's own units) "
               "and 'units real' (converted to kcal/mol); 'units {}' is not supported",
               units);
  }
}

/* ---------------------------------------------------------------------- */

void PairEquipot::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg < 3 || strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style equipot: expected 'pair_coeff * * model.pt El1 El2 ...' with one "
                      "element name (or NULL) per atom type");
  if (narg != 3 + ntypes)
    error->all(FLERR,
               "pair_coeff * * {}: {} element name(s) given but the simulation has {} atom type(s); "
               "give one element name (or NULL) per atom type",
               arg[2], narg - 3, ntypes);
  check_units();

  // Every rank loads the model; a failure is normally the same everywhere (a missing or
  // corrupt file), then it is one error->all with the core's message.
  std::unique_ptr<equipot::Model> model;
  std::string failure;
  try {
    model = std::make_unique<equipot::Model>(arg[2], device_);
  } catch (const std::exception &e) {
    failure = e.what();
  }
  int failed = failure.empty() ? 0 : 1, num_failed = 0;
  MPI_Allreduce(&failed, &num_failed, 1, MPI_INT, MPI_SUM, world);
  if (num_failed == comm->nprocs) error->all(FLERR, "pair_style equipot: " + failure);
  if (failed) error->one(FLERR, "pair_style equipot (rank {}): {}", comm->me, failure);
  if (num_failed) error->all(FLERR, "pair_style equipot: the model could not be loaded on {} rank(s)", num_failed);

  std::vector<int> species(ntypes + 1, -1);
  std::vector<std::string> names(ntypes + 1, "NULL");
  int num_ours = 0;
  for (int t = 1; t <= ntypes; t++) {
    names[t] = arg[2 + t];
    if (names[t] == "NULL") continue;
    try {
      species[t] = static_cast<int>(model->species_index(names[t]));
    } catch (const std::exception &e) {
      error->all(FLERR, "pair_coeff * * {}: atom type {} is '{}': {}", arg[2], t, names[t], e.what());
    }
    num_ours++;
  }
  if (num_ours == 0)
    error->all(FLERR, "pair_coeff * * {}: every atom type is NULL; map at least one type to an element",
               arg[2]);

  model_ = std::move(model);
  model_path_ = arg[2];
  species_of_type_ = species;
  type_elements_ = names;
  const auto &meta = model_->metadata();
  cutoff_ = meta.cutoff;
  num_layers_ = meta.num_layers;
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = (species[i] >= 0 && species[j] >= 0) ? 1 : 0;

  if (comm->me == 0) {
    std::vector<std::string> mapping;
    for (int t = 1; t <= ntypes; t++) mapping.push_back(std::to_string(t) + "=" + names[t]);
    utils::logmesg(lmp,
                   "pair_style equipot: model {} ({}, {}; elements {}; cutoff {:g} A; {} message-passing "
                   "layer(s), receptive field {:g} A) on {} with {} torch thread(s) per rank; types {}\n",
                   model_path_, meta.architecture.empty() ? "unknown architecture" : meta.architecture,
                   meta.dtype, equipot::join_words(meta.elements), cutoff_, num_layers_, num_layers_ * cutoff_, device_,
                   at::get_num_threads(), equipot::join_words(mapping));
  }
}

/* ---------------------------------------------------------------------- */

void PairEquipot::init_style()
{
  if (!model_) error->all(FLERR, "pair_style equipot: no model given (pair_coeff * * model.pt El1 El2 ...)");
  if (force->newton_pair == 0)
    error->all(FLERR,
               "pair_style equipot requires 'newton on' (newton pair on): forces on ghost atoms are "
               "returned to their owners by reverse communication");
  check_units();
  if (atom->molecular != Atom::ATOMIC)
    for (int k = 1; k <= 3; k++)
      if (force->special_lj[k] == 0.0 && force->special_coul[k] == 0.0)
        error->all(FLERR,
                   "pair_style equipot: special_bonds removes 1-{} pairs from the neighbor list, so the "
                   "model would not see bonded neighbors; use special_bonds lj/coul 1.0 1.0 1.0 (or any "
                   "non-zero factors)",
                   k + 1);

  // With one rank every ghost atom is a periodic image of an owned atom and is folded
  // onto it: no ghost nodes, no neighbor lists of ghosts, the default ghost shell.
  ghost_nodes_ = !(comm->nprocs == 1 && atom->tag_enable);
  if (ghost_nodes_) {
    if (comm->mode != Comm::SINGLE)
      error->all(FLERR, "pair_style equipot requires comm_modify mode single (the default)");
    const double needed = num_layers_ * cutoff_ + neighbor->skin;
    const double user = comm->cutghostuser;
    if (user > 0.0 && user != auto_cutghost_ && user < needed)
      error->all(FLERR,
                 "pair_style equipot: comm_modify cutoff {:g} is smaller than the ghost shell this model "
                 "needs across MPI ranks: {} message-passing layers x {:g} A cutoff + {:g} A skin = {:g} A. "
                 "Remove the comm_modify cutoff (equipot sets it) or make it at least {:g}",
                 user, num_layers_, cutoff_, neighbor->skin, needed, needed);
    if (user < needed) {
      comm->cutghostuser = needed;
      auto_cutghost_ = needed;
      if (comm->me == 0)
        utils::logmesg(lmp,
                       "pair_style equipot: communication cutoff set to {:g} A ({} layers x {:g} A + "
                       "{:g} A skin)\n",
                       needed, num_layers_, cutoff_, neighbor->skin);
    }
    ghostneigh = 1;
    neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  } else {
    ghostneigh = 0;
    neighbor->add_request(this, NeighConst::REQ_FULL);
  }
}

double PairEquipot::init_one(int i, int j)
{
  if (setflag[i][j] == 0) error->all(FLERR, "All pair coeffs are not set");
  cutghost[i][j] = cutghost[j][i] = cutoff_;
  return cutoff_;
}

/* ---------------------------------------------------------------------- */

void PairEquipot::build_graph()
{
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  const int *type = atom->type;
  const tagint *tag = atom->tag;
  double **x = atom->x;
  const double cutsq_model = cutoff_ * cutoff_;

  node_of_.assign(nall, -1);
  node_atom_.clear();
  species_.clear();
  edge_first_.clear();
  edge_second_.clear();
  edge_vectors_.clear();
  frontier_.clear();

  for (int i = 0; i < nlocal; i++) {
    const int s = species_of_type_[type[i]];
    if (s < 0) continue;
    node_of_[i] = static_cast<int64_t>(node_atom_.size());
    node_atom_.push_back(i);
    species_.push_back(s);
    frontier_.push_back(i);
  }
  num_owned_nodes_ = static_cast<int64_t>(node_atom_.size());
  if (num_owned_nodes_ == 0) return;    // a rank without atoms of ours: nothing to evaluate

  const bool use_map = atom->tag_enable && atom->map_style != Atom::MAP_NONE;
  if (atom->tag_enable && !use_map) {
    owner_of_tag_.clear();
    owner_of_tag_.reserve(2 * nlocal);
    for (int i = 0; i < nlocal; i++) owner_of_tag_.emplace(tag[i], i);
  }
  remote_node_of_tag_.clear();

  // Node of a ghost atom of our types, the first time it is met. An image of an owned
  // atom is its owner's node; all images of one atom of another rank share one node,
  // represented by the first image met (see the comment on hops below).
  auto ghost_node = [&](int j, std::vector<int> &discovered) -> int64_t {
    if (atom->tag_enable) {
      int owner = -1;
      if (use_map) {
        const int k = atom->map(tag[j]);
        if (k >= 0 && k < nlocal) owner = k;
      } else {
        const auto found = owner_of_tag_.find(tag[j]);
        if (found != owner_of_tag_.end()) owner = found->second;
      }
      if (owner >= 0) return node_of_[owner];
      if (!ghost_nodes_)
        error->one(FLERR, "pair_style equipot: ghost atom {} has no owner on this rank (internal error)", tag[j]);
      const auto found = remote_node_of_tag_.find(tag[j]);
      if (found != remote_node_of_tag_.end()) return found->second;
    }
    const auto node = static_cast<int64_t>(node_atom_.size());
    node_atom_.push_back(j);
    species_.push_back(species_of_type_[type[j]]);
    discovered.push_back(j);
    if (atom->tag_enable) remote_node_of_tag_.emplace(tag[j], node);
    return node;
  };

  // Breadth-first search over edges shorter than the cutoff: nodes discovered in round
  // k are k hops from an owned atom; edges are taken around nodes of hops 0..L-1. A
  // node's representative is its image met first, i.e. at its smallest hop h; for
  // h <= L-1 that image lies within (L-1) cutoffs of an owned atom, so all its
  // neighbors are ghosts here (the ghost shell is L cutoffs + skin) and its neighbor
  // list is complete. Other images only receive edges, so no edge is counted twice.
  int **firstneigh = list->firstneigh;
  const int *numneigh = list->numneigh;
  for (int hop = 0; hop < num_layers_ && !frontier_.empty(); hop++) {
    next_frontier_.clear();
    for (const int a : frontier_) {
      const int64_t node_a = node_of_[a];
      const double xa = x[a][0], ya = x[a][1], za = x[a][2];
      const int *jlist = firstneigh[a];
      const int jnum = numneigh[a];
      for (int jj = 0; jj < jnum; jj++) {
        const int j = jlist[jj] & NEIGHMASK;
        if (species_of_type_[type[j]] < 0) continue;
        const double dx = x[j][0] - xa, dy = x[j][1] - ya, dz = x[j][2] - za;
        if (dx * dx + dy * dy + dz * dz >= cutsq_model) continue;
        int64_t node_j = node_of_[j];
        if (node_j < 0) node_j = node_of_[j] = ghost_node(j, next_frontier_);
        edge_first_.push_back(node_a);
        edge_second_.push_back(node_j);
        edge_vectors_.push_back(dx);
        edge_vectors_.push_back(dy);
        edge_vectors_.push_back(dz);
      }
    }
    frontier_.swap(next_frontier_);
  }
}

void PairEquipot::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  if (!model_) error->all(FLERR, "pair_style equipot: no model given (pair_coeff * * model.pt ...)");

  build_graph();
  if (num_owned_nodes_ == 0) return;

  const int64_t num_nodes = static_cast<int64_t>(node_atom_.size());
  const int64_t num_edges = static_cast<int64_t>(edge_first_.size());
  const auto longs = torch::TensorOptions().dtype(torch::kInt64);
  const auto doubles = torch::TensorOptions().dtype(torch::kFloat64);
  // from_blob views: the member vectors outlive the evaluation, the core copies what it keeps.
  const auto species = torch::from_blob(species_.data(), {num_nodes}, longs);
  auto edge_index = torch::empty({2, num_edges}, longs);
  if (num_edges > 0) {
    std::memcpy(edge_index.data_ptr<int64_t>(), edge_first_.data(), num_edges * sizeof(int64_t));
    std::memcpy(edge_index.data_ptr<int64_t>() + num_edges, edge_second_.data(), num_edges * sizeof(int64_t));
  }
  const auto edge_vectors = num_edges > 0 ? torch::from_blob(edge_vectors_.data(), {num_edges, 3}, doubles)
                                          : torch::zeros({0, 3}, doubles);

  equipot::Outputs outputs;
  outputs.atom_energies = eflag_atom != 0;
  outputs.virial = vflag_global != 0;
  outputs.atom_virial = vflag_atom != 0 || cvflag_atom != 0;
  equipot::Evaluation result;
  try {
    result = model_->evaluate(species, edge_index, edge_vectors, num_owned_nodes_, outputs);
  } catch (const std::exception &e) {
    error->one(FLERR, "pair_style equipot on step {}: {}", update->ntimestep, e.what());
  }

  const double u = energy_factor_;
  double **f = atom->f;
  const auto forces = result.forces.contiguous();
  const double *fn = forces.data_ptr<double>();
  for (int64_t n = 0; n < num_nodes; n++) {
    double *fa = f[node_atom_[n]];
    fa[0] += u * fn[3 * n];
    fa[1] += u * fn[3 * n + 1];
    fa[2] += u * fn[3 * n + 2];
  }
  if (eflag_global) eng_vdwl += u * result.energy;
  if (eflag_atom) {
    const auto energies = result.atom_energies.contiguous();
    const double *en = energies.data_ptr<double>();
    for (int64_t n = 0; n < num_owned_nodes_; n++) eatom[node_atom_[n]] += u * en[n];
  }
  if (vflag_global) {
    const auto w = result.virial.contiguous();
    const double *v = w.data_ptr<double>();
    for (int c = 0; c < 6; c++) virial[c] += u * v[kVirialComponent[c]];
  }
  if (vflag_atom || cvflag_atom) {
    const auto w = result.atom_virial.contiguous();
    const double *v = w.data_ptr<double>();
    for (int64_t n = 0; n < num_nodes; n++) {
      const double *vn = v + 9 * n;
      const int a = node_atom_[n];
      if (vflag_atom)
        for (int c = 0; c < 6; c++) vatom[a][c] += u * vn[kVirialComponent[c]];
      if (cvflag_atom)
        for (int c = 0; c < 9; c++) cvatom[a][c] += u * vn[kVirialComponent[c]];
    }
  }
}

double PairEquipot::memory_usage()
{
  double bytes = Pair::memory_usage();
  bytes += node_of_.capacity() * sizeof(int64_t);
  bytes += (node_atom_.capacity() + frontier_.capacity() + next_frontier_.capacity()) * sizeof(int);
  bytes += (species_.capacity() + edge_first_.capacity() + edge_second_.capacity()) * sizeof(int64_t);
  bytes += edge_vectors_.capacity() * sizeof(double);
  return bytes;
}
